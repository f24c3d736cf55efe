"""The pull agent: keeps a cluster equal to one branch of a config repo.

Modules, in the order a pass uses them: ``source`` (fetch, signatures), ``render`` (plain,
kustomize, helm), ``manifests`` (pure: marks, hashes, drift), ``apply`` (dry-run, server-side
apply, prune), ``inventory`` (ownership, prune safety), ``health`` (pure rollout rules),
``rollout`` (waiting), ``badimages`` (records for the bump worker), ``forge`` (commit status,
revert PR), ``status`` (ConfigMap, Events, metrics), ``server`` (HTTP), ``runner`` (the loop),
``main`` (assembly), ``kube`` (the thin API client), ``config``.

It must not import flask, rq, PyGithub, python-gitlab, ``bumper.web``, ``bumper.scm`` or
``worker`` (tests/agent/test_boundaries.py checks): the agent image carries none of them.
The worker's push mode reuses ``apply``, ``render``, ``rollout`` and ``badimages``.
"""
