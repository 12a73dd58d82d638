from promote_cli.cli import main

raise SystemExit(main())
