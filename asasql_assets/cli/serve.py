"""`asasql serve`: the local transformers backend behind an OpenAI-compatible API."""

import sys

from asasql_resources.models.devices import DeviceError, resolve_device
from asasql_resources.models.local import LocalChatBackend
from asasql_resources.models.locate import ModelNotFound, resolve_model
from asasql_resources.models.server import serve


def serve_model(model: str, host: str, port: int, batch_size: int, device: str = "cpu") -> int:
    """Load the model on `device`, then serve /v1/chat/completions until interrupted."""
    try:
        backend = LocalChatBackend(
            resolve_model(model, "--model"),
            device=str(resolve_device(device, "--device")),
            batch_size=batch_size,
            setting="--model",
            keep_packed=True,
        )
        backend.loaded()
    except (ModelNotFound, DeviceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    name = model or "smollm2-135m-instruct"
    print(f"serving {backend.identity} as {name!r} on http://{host}:{port}/v1 (dtype {backend.loaded().dtype})")
    serve(backend, name, host, port).run()
    return 0
