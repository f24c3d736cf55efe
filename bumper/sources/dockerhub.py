"""Docker Hub repository webhooks (push).

Docker Hub signs nothing and sends no credential: the only protection is a secret URL. The
secret is that URL token; the web layer passes the token from the request URL as
``X-Bumper-Url-Token`` and it is compared in constant time. This is weaker than a signature
(the token sits in URLs and logs, and does not bind the body): re-check important pushes
against the registry if that matters.

``push_data.tag`` + ``repository.repo_name`` → ``image.pushed docker.io/<repo_name>:<tag>``
(no digest: Docker Hub does not send one). Docker Hub has no delivery id.
"""

from __future__ import annotations

from bumper.core.events import Event
from bumper.sources import _auth
from bumper.sources._common import image_event, load_object, text
from bumper.sources._headers import Headers

NAME = "dockerhub"
REGISTRY_HOSTS: tuple[str, ...] = ("docker.io",)


AUTH = _auth.URL_TOKEN


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    repository = text(data, "repository", "repo_name")
    if repository is None:
        namespace, name = text(data, "repository", "namespace"), text(data, "repository", "name")
        repository = f"{namespace}/{name}" if namespace and name else None
    # Docker Hub names are relative to docker.io; a name with a registry part is not one of ours.
    image = f"docker.io/{repository}" if repository else None
    return image_event(NAME, "image.pushed", image, tag=text(data, "push_data", "tag"))
