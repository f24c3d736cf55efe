"""bumper.scm"""
