"""`asasql serve`: the local transformers backend behind an OpenAI-compatible API."""

import sys

from asasql_resources.models.devices import DeviceError, resolve_device
from asasql_resources.models.local import LocalChatBackend
from asasql_resources.models.locate import ModelNotFound, resolve_model
from asasql_resources.models.server import DEFAULT_MAX_QUEUE, serve

NAMES = {
    "": "qwen2.5-coder-0.5b-instruct",
    "default": "qwen2.5-coder-0.5b-instruct",
    "smollm2": "smollm2-135m-instruct",
}


def serve_model(
    model: str, host: str, port: int, batch_size: int, device: str = "cpu", max_queue: int = DEFAULT_MAX_QUEUE
) -> int:
    """Load the model on `device`, then serve /v1/chat/completions until interrupted."""
    for flag, value in (("--batch-size", batch_size), ("--max-queue", max_queue)):
        if value < 1:
            print(f"error: {flag}={value}: must be at least 1", file=sys.stderr)
            return 2
    try:
        backend = LocalChatBackend(
            resolve_model(model, "--model"),
            device=str(resolve_device(device, "--device")),
            batch_size=batch_size,
            setting="--model",  # the server keeps its own packed weights
        )
        backend.loaded()
    except (ModelNotFound, DeviceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    name = NAMES.get(model, model)
    print(
        f"serving {backend.identity} as {name!r} on http://{host}:{port}/v1 "
        f"(dtype {backend.loaded().dtype}, at most {max_queue} requests held)"
    )
    serve(backend, name, host, port, max_queue).run()
    return 0
