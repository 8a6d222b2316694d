from carewindow.cli.main import app

app()
