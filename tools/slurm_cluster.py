"""An example: Dask workers for `cifarlab run-notebooks` / `cifarlab grade` as Slurm jobs.

    pip install dask-jobqueue
    python tools/slurm_cluster.py --jobs 10      # prints the scheduler's address, then waits
    cifarlab run-notebooks assignments.csv --scheduler tcp://ADDRESS   # in another shell

Each Slurm job runs one worker of one thread (a notebook at a time) on 2 cores. Adjust the
queue, account, walltime and the environment the jobs activate for your cluster. Ctrl-C
ends the jobs. docs/instructors.md: "On a cluster".
"""

import argparse
import time


def main() -> None:
    from dask_jobqueue import SLURMCluster  # pip install dask-jobqueue

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4, help="Slurm jobs (workers) to start")
    parser.add_argument("--queue", default=None, help="Slurm partition")
    parser.add_argument("--account", default=None, help="Slurm account")
    parser.add_argument("--walltime", default="04:00:00", help="per job (HH:MM:SS)")
    args = parser.parse_args()
    cluster = SLURMCluster(
        cores=2, processes=1, memory="8GB", queue=args.queue, account=args.account,
        walltime=args.walltime, scheduler_options={"host": "0.0.0.0", "port": 8786},
        worker_extra_args=["--nthreads", "1", "--memory-limit", "0"],
        # the jobs' environment: the same cifarlab and data as on your machine
        job_script_prologue=["source ~/cifarlab/.venv/bin/activate",
                             "export CIFARLAB_DATA_DIR=~/data/cifar"])
    cluster.scale(jobs=args.jobs)
    print(f"Scheduler: {cluster.scheduler_address} (Ctrl-C ends the jobs)")
    print(cluster.job_script())
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        cluster.close()


if __name__ == "__main__":
    main()
