"""Scale out on Dask: batch scoring of files of any size (``score``), in this process or on a cluster.

Sits above ``serving`` (it scores with the serving scorer, so batch answers equal ``/predict``'s) and
``store`` (``--log`` records batch rows), beside the dashboard. Modules, bottom up: ``inputs`` (expand,
check and read files in chunks), ``partition`` (score one chunk: what a worker runs), ``output`` (the
resumable Parquet dataset), ``engine`` (local or Dask), ``score`` (the job). Nothing is imported here, so
that the command line starts without pandas; import from the modules.
"""
