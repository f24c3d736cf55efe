"""The pull agent: keeps a cluster equal to one branch of a config repo.

The rollout state machine (which commit, apply, wait for health, roll back, bad images,
drift) is ``bumper.reconcile``, shared with the worker's push mode. The agent is the loop
around it and the low-level modules both use:

- the engine's building blocks: ``render`` (plain, kustomize, helm; ``remote``: no network
  fetches unless allowed), ``manifests`` (pure: marks, hashes, drift, health-timeout
  annotations), ``apply`` (dry-run, server-side apply, prune), ``inventory`` (ownership,
  prune safety), ``health`` (pure rollout rules), ``badimages`` (records for the bump
  worker), ``status`` (ConfigMap, Events, metrics), ``kube`` (the thin API client);
- the agent's own side: ``source`` (fetch, signatures, export), ``signing`` (the signature
  policy: every new commit, no rewind, keys judged when first seen; with ``signers``),
  ``forge`` (commit status, revert PR), ``runner`` (the loop, and the agent's ports of the
  engine), ``server`` (HTTP), ``trigger`` (push webhooks), ``main`` (assembly), ``config``.

It must not import flask, rq, PyGithub, python-gitlab, ``bumper.web``, ``bumper.scm`` or
``worker`` (tests/agent/test_boundaries.py checks): the agent image carries none of them.
"""
