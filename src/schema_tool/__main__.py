from schema_tool.cli import main

raise SystemExit(main())
