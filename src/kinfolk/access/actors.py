"""The actor for work nobody in particular asked for: demo loading, migrations, system jobs."""


class SystemActor:
    """Kinfolk itself: sees everything, recorded as 'system' in the audit trail."""

    pk = None
    id = None
    username = "system"
    is_system = True
    is_org_admin = True
    is_authenticated = True
    is_active = True
    team_roles = {}
    team_ids = set()

    def role_in(self, team_id):
        return None

    def has_role(self, team_id, minimum):
        return True

    def __str__(self):
        return "system"


SYSTEM = SystemActor()
