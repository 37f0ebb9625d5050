from dolmen.cli import main

raise SystemExit(main())
