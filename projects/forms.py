from __future__ import annotations

from django import forms

from projects.models import METRICS, Project, TaskType

METRIC_CHOICES = [
    (task.title(), [(metric, metric) for metric in metrics])
    for task, metrics in METRICS.items()
]


class ProjectForm(forms.ModelForm):
    """Step 1, the problem definition. Cross-field rules live in Project.clean()."""

    task_type = forms.ChoiceField(
        choices=TaskType.choices,
        initial=TaskType.CLASSIFICATION,
        widget=forms.RadioSelect,
    )
    primary_metric = forms.ChoiceField(choices=METRIC_CHOICES)

    class Meta:
        model = Project
        fields = [
            "name",
            "task_type",
            "business_goal",
            "primary_metric",
            "success_threshold",
            "latency_budget_ms",
            "description",
        ]
        labels = {
            "latency_budget_ms": "Latency budget (ms per prediction)",
            "success_threshold": "Success threshold",
        }
        help_texts = {
            "business_goal": "What decision will the model support, and for whom?",
            "success_threshold": (
                "The value of the primary metric a model must reach to be deployed. "
                "For error metrics (rmse, mae, mape, log_loss, davies_bouldin) lower "
                "is better, so the model must stay at or below it."
            ),
            "latency_budget_ms": "How long one prediction may take when served.",
        }
        widgets = {
            "business_goal": forms.Textarea(attrs={"rows": 2}),
            "description": forms.Textarea(attrs={"rows": 2}),
        }


class SensitiveColumnsForm(forms.Form):
    sensitive_columns = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Attributes such as sex or age group that models must treat fairly. "
            "They are checked for representation now and for fairness at evaluation."
        ),
    )

    def __init__(self, *args, columns: list[str], target: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sensitive_columns"].choices = [
            (c, c) for c in columns if c != target
        ]


class TargetForm(forms.Form):
    target_column = forms.ChoiceField(label="Target column")

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target_column"].choices = [("", "— choose —")] + [
            (c, c) for c in columns
        ]


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV, TSV, Parquet, JSON Lines or Excel.",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.tsv,.txt,.parquet,.jsonl,.ndjson,.xlsx,.xls"}
        ),
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="e.g. 'laptop' or 'CI'")


# ---------------------------------------------------------------- step 9


class DeploymentRequestForm(forms.Form):
    """Ask for a model version to go live on an environment."""

    model_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    environment = forms.ChoiceField(
        choices=[("staging", "Staging"), ("production", "Production")],
        initial="staging",
    )
    unseen_categories = forms.ChoiceField(
        label="Unseen categories",
        choices=[
            ("error", "Refuse the row (400)"),
            ("allow", "Predict and warn"),
        ],
        initial="error",
        help_text="What a category the model never saw does to a prediction.",
    )
    comment = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For the approver: why this version, what to look at.",
    )


class ApproveForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    acknowledge = forms.BooleanField(
        required=False,
        label="I have read the warnings above and approve despite them.",
    )


class RejectForm(forms.Form):
    comment = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Say why, so the requester knows what to fix.",
    )


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(
        choices=[
            ("viewer", "Viewer"),
            ("scientist", "Scientist"),
            ("approver", "Approver"),
            ("owner", "Owner"),
        ]
    )
