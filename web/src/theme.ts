import { extendTheme, type StyleFunctionProps } from "@chakra-ui/react";

// Chakra's defaults, with a focus ring that shows on every focusable control and colours that
// keep text contrast at WCAG AA (white on the default 500 shades is below 4.5:1).
export const theme = extendTheme({
  styles: {
    global: {
      "a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, [tabindex]:focus-visible":
        { outline: "3px solid #2b6cb0", outlineOffset: "2px" },
      body: { color: "gray.800" },
    },
  },
  components: {
    Link: { baseStyle: { color: "blue.700", textDecoration: "underline" } },
    Button: {
      variants: {
        solid: (props: StyleFunctionProps) =>
          props.colorScheme === "gray"
            ? {}
            : {
                bg: `${props.colorScheme}.600`,
                color: "white",
                _hover: { bg: `${props.colorScheme}.700`, _disabled: { bg: `${props.colorScheme}.600` } },
                _active: { bg: `${props.colorScheme}.800` },
              },
        outline: (props: StyleFunctionProps) => (props.colorScheme === "gray" ? {} : { color: `${props.colorScheme}.700` }),
        link: (props: StyleFunctionProps) => ({ color: `${props.colorScheme}.700` }),
        ghost: (props: StyleFunctionProps) => (props.colorScheme === "gray" ? {} : { color: `${props.colorScheme}.700` }),
      },
    },
  },
});
