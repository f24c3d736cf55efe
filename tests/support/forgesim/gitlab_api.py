from typing import Any


def error_body(err: Any) -> dict[str, Any]:
    return {"message": err.message}
