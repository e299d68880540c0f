"""``minidl nets``: every network name, grouped by task (classification for ``minidl train``,
segmentation for ``minidl segment``)."""
HEADINGS = {"classify": "classification (minidl train --net NAME)",
            "segment": "segmentation (minidl segment --net NAME)"}


def add_parser(subparsers):
    p = subparsers.add_parser("nets", help="list the available networks, by task",
                              description="List the networks minidl builds, grouped by task.")
    p.set_defaults(func=run)


def run(args):
    import nets

    groups = {task: [] for task in HEADINGS}
    for name in nets.available():
        groups[nets.task_of(name)].append(name)
    for task, names in groups.items():
        print(f"{HEADINGS[task]}:")
        for name in names:
            print(f"  {name}")
    return 0
