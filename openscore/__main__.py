from openscore.cli import main

main()
