"""The reconcile engine: one rollout state machine for the pull agent and push mode.

A pass (``engine.Engine.reconcile``), and the module that does each step:

1. **which commit**: the branch tip (``ports.Commits.tip``), or, while the tip is the
   ``failedCommit``, the last healthy commit: a rolled-back commit stays refused until the
   branch moves (``engine``);
2. **render** it (``ports.Commits.render``: the agent exports a verified commit, push mode
   resets its checkout; both call ``bumper.agent.render``), cached for a few commits (``engine``);
3. **apply**: server-side dry-run of the change set, server-side apply, prune of the owned
   inventory (``bumper.agent.apply``, ``bumper.agent.inventory``); drift found on the way is
   healed and reported as ``DriftHealed`` Events; the inventory and the status counts are
   recorded (``engine``, ``bumper.agent.status``);
4. **wait for health** of the workloads the apply changed, each with its own deadline from the
   ``bumper.dev/health-timeout`` annotation (``waiting``, rules in ``bumper.agent.health``);
5. **decide**: ``Healthy`` (it becomes ``lastHealthyCommit``), ``Degraded``, or failed when a
   new commit's workload did not become healthy (``engine``);
6. on failure, **record bad images** (the ones the commit introduced into the unhealthy
   workloads: ``bumper.agent.badimages``, to the ConfigMap and a ``ports.BadImageSink``),
   **roll back** to the last healthy commit's render (or ``ports.Commits.fallback``) and wait
   for it, then say ``RolledBack`` (``engine``);
7. **report**: the status ConfigMap ``<name>-status``, Events and metrics
   (``bumper.agent.status``), plus the caller's ``ports.Announcer`` (the agent: commit status
   and revert PR; push mode reads the returned ``ReconcileResult`` instead).

Callers: ``bumper.agent.runner`` (the pull agent's loop) and ``worker.pushdeploy`` (push mode).
Must not import web, worker, scm, flask, rq, redis or a forge SDK: the agent image carries
this package and none of those (import-linter contracts in .importlinter). Imports only
``bumper.agent``'s low-level modules, ``bumper.core`` and ``bumper.errors``.
"""
