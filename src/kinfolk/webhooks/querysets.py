"""Read path of webhooks: a team's subscriptions are seen by its members; org-wide ones by administrators."""

from django.db import models


class WebhookSubscriptionQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Subscriptions of the actor's teams; administrators see every one, org-wide ones included."""
        if actor.is_org_admin:
            return self
        return self.filter(team_id__in=actor.team_ids)


class WebhookDeliveryQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Deliveries of the subscriptions the actor may see."""
        if actor.is_org_admin:
            return self
        return self.filter(subscription__team_id__in=actor.team_ids)

    def due(self, now):
        """Pending deliveries of active subscriptions whose next attempt is due."""
        return self.filter(status="pending", next_attempt_at__lte=now, subscription__is_active=True)
