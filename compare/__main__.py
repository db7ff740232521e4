import gc
import sys

gc.disable()  # the imports make no garbage: collecting during them only re-scans what they built

from compare import warm  # noqa: E402

if sys.argv[1:2] == ["run"] and not {"--framework", "--tool-mode"} & {a.partition("=")[0] for a in sys.argv[2:]}:
    # the warm servers import the tools on the cores while the harness imports itself (about 0.5 s each); a run
    # of some frameworks only, or in another tool mode, starts those it needs once its arguments are parsed
    warm.prestart()

from compare.cli import main  # noqa: E402

gc.freeze()  # nor does the run's collector need to scan the imported modules again
gc.enable()
# A run's objects live until its end (its reports and snapshots): a collection of the oldest generation would only
# scan them again (0.1 s of a catalog run). The younger two still collect the cycles that a story leaves.
young, middle, _ = gc.get_threshold()
gc.set_threshold(young, middle, 1_000_000)
warm.exit_now(main())  # the harness's modules need no teardown either
