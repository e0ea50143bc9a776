from multus.daemon.main import main

main()
