from tests.conftest import bearer, register


def test_register_then_me(api):
    body = register(api)
    me = api.get("/api/auth/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.get_json()["user"]["email"] == "ada@example.com"
