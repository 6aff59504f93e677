from edgedistil.cli import main

main()
