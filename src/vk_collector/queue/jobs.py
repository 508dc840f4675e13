"""Job data, progress and result models of both queues, in the original wire shapes.

Fields are snake_case in Python and camelCase on the wire (``to_wire()`` and
``model_validate`` with aliases), so jobs written by the original Node.js system are
read here and ours are readable there.  A job may carry ``metadata.options.token``
(the original did): it is honoured, but excluded from every dump, so it never
reaches results, events, logs or the database.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer
from pydantic.alias_generators import to_camel

from vk_collector.clock import utc_now_iso

__all__ = [
    "CurrentGroup",
    "GroupError",
    "IdentifierError",
    "JobData",
    "ProcessGroupsJobData",
    "ProcessGroupsMetadata",
    "ProcessGroupsProgress",
    "ProcessGroupsResult",
    "ProcessGroupsResultStats",
    "ProcessGroupsStats",
    "VkCollectGroup",
    "VkCollectGroupJobData",
    "VkCollectJobData",
    "VkCollectMetadata",
    "VkCollectOptions",
    "VkCollectProgress",
    "VkCollectResult",
    "VkCollectStats",
    "WireModel",
]


class WireModel(BaseModel):
    """Base of every wire model: camelCase aliases, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# --- vk-collect ---------------------------------------------------------------------


class VkCollectGroup(WireModel):
    vk_id: int = Field(gt=0)
    name: str = ""


class VkCollectOptions(WireModel):
    limit: int | None = Field(default=None, ge=1, le=1000)
    include_replies: bool | None = None
    filter_words: list[str] | None = None
    token: SecretStr | None = Field(default=None, exclude=True, repr=False)


class VkCollectMetadata(WireModel):
    groups: list[VkCollectGroup] | None = None
    options: VkCollectOptions = Field(default_factory=VkCollectOptions)


class VkCollectJobData(WireModel):
    task_id: int = Field(gt=0)
    type: Literal["fetch_comments"] = "fetch_comments"
    metadata: VkCollectMetadata = Field(default_factory=VkCollectMetadata)


class VkCollectGroupJobData(WireModel):
    """One community of a collection task: the data of a ``vk-collect-group`` child job,
    ``{taskId, vkId, name, options: {limit?, includeReplies?, filterWords?}}``.

    Never a token: a token the task's job carries is read from that (parent) job."""

    task_id: int = Field(gt=0)
    vk_id: int = Field(gt=0)
    name: str = ""
    options: VkCollectOptions = Field(default_factory=VkCollectOptions)


class CurrentGroup(WireModel):
    """``vkId`` is a string on the wire, as the original worker sent it (``String(vkId)``);
    a number is read too."""

    vk_id: int
    name: str
    progress: int = Field(ge=0, le=100)

    @field_serializer("vk_id")
    def _vk_id_as_text(self, value: int) -> str:
        return str(value)


class VkCollectStats(WireModel):
    groups_completed: int = 0
    total_groups: int = 0
    posts_processed: int = 0
    comments_collected: int = 0


class VkCollectProgress(WireModel):
    percentage: int = Field(ge=0, le=100)
    stage: Literal["starting", "fetching_posts", "fetching_comments", "saving_data", "completing"]
    current_group: CurrentGroup | None = None
    stats: VkCollectStats = Field(default_factory=VkCollectStats)


class GroupError(WireModel):
    """``groupId`` is the community's VK id as a string on the wire (the original's)."""

    group_id: int
    error: str
    timestamp: str = Field(default_factory=utc_now_iso)

    @field_serializer("group_id")
    def _group_id_as_text(self, value: int) -> str:
        return str(value)


class VkCollectResult(WireModel):
    success: bool
    task_id: int
    comments_collected: int
    posts_processed: int
    groups_processed: int
    errors: list[GroupError] = Field(default_factory=list)
    processing_time: int = Field(description="milliseconds")
    final_status: Literal["completed", "failed"]


# --- process-groups -----------------------------------------------------------------


class ProcessGroupsMetadata(WireModel):
    group_identifiers: list[str] = Field(min_length=1)
    source: Literal["file", "manual"] = "file"
    original_file_name: str | None = None


class ProcessGroupsJobData(WireModel):
    task_id: int = Field(gt=0)
    type: Literal["process_groups"] = "process_groups"
    metadata: ProcessGroupsMetadata


class ProcessGroupsStats(WireModel):
    total: int = 0
    processed: int = 0
    valid: int = 0
    invalid: int = 0
    duplicate: int = 0


class ProcessGroupsProgress(WireModel):
    percentage: int = Field(ge=0, le=100)
    stage: Literal["init", "fetching", "saving", "done"]
    current_batch: int | None = None
    total_batches: int | None = None
    stats: ProcessGroupsStats = Field(default_factory=ProcessGroupsStats)


class IdentifierError(WireModel):
    identifier: str
    error: str
    timestamp: str = Field(default_factory=utc_now_iso)


class ProcessGroupsResultStats(WireModel):
    total: int = 0
    valid: int = 0
    invalid: int = 0
    duplicate: int = 0
    saved: int = 0


class ProcessGroupsResult(WireModel):
    success: bool
    task_id: int
    stats: ProcessGroupsResultStats
    errors: list[IdentifierError] = Field(default_factory=list)
    processing_time_ms: int


JobData = VkCollectJobData | ProcessGroupsJobData
