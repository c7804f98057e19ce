"""The bot's own processes on loopback, for the demo, the end-to-end tests and the benchmarks.

Not a simulator: it starts the real Rasa server and action server next to the Zadig and
DingTalk simulators (`devstack.stack`), runs each as a child process (`devstack.process`) and
talks to the bot as DingTalk users do (`devstack.stack.ChatClient`).
"""
