"""bumper.web"""
