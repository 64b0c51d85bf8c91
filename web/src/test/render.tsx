import { ChakraProvider } from "@chakra-ui/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { AuthProvider } from "../auth/AuthContext";
import { theme } from "../theme";

// Renders with the app's providers at `path`; the API is the test's fetch stub.
export function renderApp(ui: ReactElement, { path = "/", route = "*" }: { path?: string; route?: string } = {}) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <ChakraProvider theme={theme}>
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={[path]}>
          <AuthProvider>
            <Routes>
              <Route path={route} element={ui} />
              <Route path="/dashboard" element={<p>dashboard page</p>} />
              <Route path="/billing" element={<p>billing page</p>} />
              {!path.startsWith("/signin") && <Route path="/signin" element={<p>signin page</p>} />}
            </Routes>
          </AuthProvider>
        </MemoryRouter>
      </QueryClientProvider>
    </ChakraProvider>,
  );
}

export interface Call {
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string>;
}

// A fetch stub answering by "METHOD /path"; records every call.
export function stubApi(answers: Record<string, (body: unknown) => [number, unknown]>) {
  const calls: Call[] = [];
  const fetchStub = vi.fn(async (path: string, init: RequestInit = {}) => {
    const method = init.method ?? "GET";
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method, path, body, headers: (init.headers ?? {}) as Record<string, string> });
    const answer = answers[`${method} ${path}`];
    const [status, data] = answer ? answer(body) : [404, { error: { code: "not_found", message: "no route" } }];
    return new Response(status === 204 ? null : JSON.stringify(data), { status, headers: { "Content-Type": "application/json" } });
  });
  vi.stubGlobal("fetch", fetchStub);
  return calls;
}
