from gitml.cli.main import main

main()
