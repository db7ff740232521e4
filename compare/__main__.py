import sys

from compare import warm

if sys.argv[1:2] == ["run"]:
    # the warm server imports the tools on the other core while the harness imports itself (about 1 s each)
    warm.prestart()

from compare.cli import main  # noqa: E402

sys.exit(main())
