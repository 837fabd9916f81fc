from walx._cli import main

raise SystemExit(main())
