"""What the benchmarks share (issue 14): each script under benchmarks/ keeps only its scenario and its figures.

- ``processes``: the private Mosquitto, ``stayaway`` CLI and ``serve`` subprocesses, their environment,
  free loopback ports, readiness (``/healthz``) and bounded teardown;
- ``runner``: the frame of an end-to-end run (temp dir, overall timeout, report, ``--json``, ``--keep``);
- ``raw_mqtt``: minimal MQTT 3.1.1 clients on plain sockets (publisher, agency console, devices);
- ``paho_clients``: the paho publisher and alert console;
- ``sampling``: CPU and RSS of processes (psutil), the machine;
- ``report``: percentiles, latency summaries, formatting, the rich tables with the targets;
- ``fixtures``: the police grid, orders' ids, local geometry and RFC 3339 times;
- ``database``: the database URL and the figures read from it after a run.
"""
