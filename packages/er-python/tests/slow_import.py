"""A handler module that takes a second to import."""

import time

time.sleep(1.0)


def handler(ctx: object) -> str:
    return "slow"
