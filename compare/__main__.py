import gc
import sys

gc.disable()  # the imports make no garbage: collecting during them only re-scans what they built

from compare import warm  # noqa: E402

if sys.argv[1:2] == ["run"]:
    # the warm server imports the tools on the other core while the harness imports itself (about 1 s each)
    warm.prestart()

from compare.cli import main  # noqa: E402

gc.freeze()  # nor does the run's collector need to scan the imported modules again
gc.enable()
warm.exit_now(main())  # the harness's modules need no teardown either
