"""The `pulsewatch` command line (cli/main.py) and the summaries it prints (cli/summary.py)."""
