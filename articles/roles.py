"""The desk's two roles. Migration 0008 creates them; `ensure_desk_groups` (run after every
`migrate` and `flush`) recreates a group that is missing, with its permissions, and leaves groups
that exist alone so an administrator's changes are kept."""

EDITOR_PERMS = [
    "add_article", "change_article", "delete_article", "view_article",
    "preview_article", "publish_article", "edit_any_article", "empty_trash",
    "withdraw_article", "view_auditentry",
    "add_author", "change_author", "delete_author", "view_author",
    "add_category", "change_category", "delete_category", "view_category",
    "add_tag", "change_tag", "delete_tag", "view_tag",
    "add_byline", "change_byline", "delete_byline", "view_byline",
    "add_correction", "change_correction", "delete_correction", "view_correction",
    "view_revision",
]  # fmt: skip
REPORTER_PERMS = [
    "add_article", "change_article", "view_article", "preview_article",
    "view_author", "view_category", "add_tag", "view_tag",
    "add_byline", "change_byline", "delete_byline", "view_byline",
]  # fmt: skip
ROLES = {"Editors": EDITOR_PERMS, "Reporters": REPORTER_PERMS}


def ensure_desk_groups(apps=None, **kwargs) -> None:
    """Create a missing desk group with its permissions. `apps` is the model registry that
    `post_migrate` or a migration passes; without one, the project's own."""
    if apps is None:
        from django.apps import apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="articles", codename__in=codenames
                )
            )
