"""`python -m benchmarks`: every benchmark table, ratios measured in this one run."""

import jax

from . import checkpoint, core, invariant, pipeline, sharded_step, stacked, transforms


def main() -> None:
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; medians of many calls")
    core.main()
    invariant.main()
    transforms.main()
    stacked.main()
    pipeline.main()
    sharded_step.main()
    checkpoint.main()


if __name__ == "__main__":
    main()
