from speechbudget.cli import main

main()
