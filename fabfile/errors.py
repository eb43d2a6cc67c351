"""Errors a user can act on: printed as one clear message, never as a traceback."""


class UserError(Exception):
    """Bad input or a refused action: the message says what and where."""


class ConfigError(UserError):
    """A cluster config file is invalid."""

    def __init__(self, path, field, problem):
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{self.path}: {field}: {problem}")


class StepFailed(UserError):
    """A remote command failed: names the host, the step, the command and its output."""

    def __init__(self, step, host, command, detail):
        self.step, self.host, self.command, self.detail = step, host, command, detail
        super().__init__(
            f"step '{step}' failed on {host}\n  command: {command}\n  {detail}".rstrip()
        )
