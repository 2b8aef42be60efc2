"""jaf-plugin-shell: a jafhost plugin that runs allow-listed programs, with confirmation.

``plugin`` holds the hook implementations, the configuration model and the ``run``
tool (the entry point); ``execute`` starts the program (never through a shell),
collects its output up to a limit and kills it when its time is up.

Three checks stand between an agent and a program: the user confirms each call
(``confirm=True``), the program must be in the plugin's allow-list (config), and the
user must have granted ``run:<program>`` (jafhost's guard refuses the start otherwise).
"""
