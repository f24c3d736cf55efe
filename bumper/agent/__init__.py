"""bumper.agent"""
