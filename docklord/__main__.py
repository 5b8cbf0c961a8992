from docklord.cli import main

main()
