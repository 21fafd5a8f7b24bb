//! Snapshot task results: what a registration holds, and the rules for
//! registering the same task id twice.

use std::collections::HashSet;

use crate::id::{AssetId, ProjectId, TaskId};
use crate::thumbnail::ThumbnailPara;
use crate::time::Timestamp;

/// Most snapshots one task result may hold.
pub const MAX_SNAPSHOTS: usize = 10_000;
/// Longest object key, in bytes.
pub const MAX_OBJECT_KEY_BYTES: usize = 1024;
/// Largest snapshot offset, in seconds (fits a 32-bit signed column).
pub const MAX_SNAPSHOT_OFFSET: i64 = i32::MAX as i64;

/// Why a string is not a safe object key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectKeyError {
    #[error("object_key must be 1 to {MAX_OBJECT_KEY_BYTES} bytes")]
    Length,
    #[error("object_key must be relative: no leading '/'")]
    Absolute,
    #[error("object_key must not end with '/': it names an object, not a folder")]
    TrailingSlash,
    #[error("object_key must not contain an empty segment ('//')")]
    EmptySegment,
    #[error("object_key must not contain a '.' or '..' segment")]
    DotSegment,
    #[error("object_key must not contain control characters")]
    ControlCharacter,
    #[error("object_key must not end with '#' and digits, which file storage reserves")]
    ReservedSuffix,
}

/// A key in object storage, relative to the store's root.
///
/// It accepts only keys that every supported store holds under exactly this
/// name (object_store's `Path` rules, and its file store's): no leading or
/// trailing `/`, no empty, `.` or `..` segment (so it can never climb out of
/// the root), no control character, and a last segment that does not end
/// in `#` and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

/// Whether `raw` has a control character (`char::is_control`: C0, DEL and
/// C1), checked on bytes: C0 and DEL are single bytes, and C1 (U+0080 to
/// U+009F) is encoded as 0xC2 followed by 0x80..=0x9F, where 0xC2 can only
/// be a leading byte. Every stored key is parsed again when read, so this
/// is on the details path (issue 12's profile).
fn has_control_character(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.iter().enumerate().any(|(n, &b)| {
        b < 0x20
            || b == 0x7f
            || (b == 0xc2
                && bytes
                    .get(n + 1)
                    .is_some_and(|next| (0x80..=0x9f).contains(next)))
    })
}

impl ObjectKey {
    /// Parses a key, refusing any that some store would not hold under
    /// exactly this name.
    ///
    /// ```
    /// use vodsnap_domain::{ObjectKey, ObjectKeyError, ProjectId};
    ///
    /// let key = ObjectKey::parse("acme/movie_42/t1/0.jpg")?;
    /// assert_eq!(key.project(), Some(ProjectId::parse("acme").unwrap()));
    /// assert!(key.belongs_to(&ProjectId::parse("acme").unwrap()));
    /// assert!(!key.belongs_to(&ProjectId::parse("acm").unwrap()));
    ///
    /// assert_eq!(ObjectKey::parse("acme/../x.jpg"), Err(ObjectKeyError::DotSegment));
    /// assert_eq!(ObjectKey::parse("/acme/x.jpg"), Err(ObjectKeyError::Absolute));
    /// # Ok::<(), ObjectKeyError>(())
    /// ```
    pub fn parse(raw: &str) -> Result<Self, ObjectKeyError> {
        if raw.is_empty() || raw.len() > MAX_OBJECT_KEY_BYTES {
            return Err(ObjectKeyError::Length);
        }
        if raw.starts_with('/') {
            return Err(ObjectKeyError::Absolute);
        }
        if raw.ends_with('/') {
            return Err(ObjectKeyError::TrailingSlash);
        }
        if has_control_character(raw) {
            return Err(ObjectKeyError::ControlCharacter);
        }
        // On bytes: '/' is ASCII, so it never occurs inside a character.
        for segment in raw.as_bytes().split(|&b| b == b'/') {
            match segment {
                b"" => return Err(ObjectKeyError::EmptySegment),
                b"." | b".." => return Err(ObjectKeyError::DotSegment),
                _ => {}
            }
        }
        let file_name = raw.rsplit_once('/').map_or(raw, |(_, name)| name);
        if let Some((_, suffix)) = file_name.split_once('#')
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ObjectKeyError::ReservedSuffix);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project whose prefix the key lies under: its first segment, when
    /// that is a valid project id and more follows. Every key a project
    /// registers has one (the registration rule), so a key without one
    /// belongs to no task.
    pub fn project(&self) -> Option<ProjectId> {
        let (first, _) = self.0.split_once('/')?;
        ProjectId::parse(first).ok()
    }

    /// Whether the key lies under `project`'s prefix, `{project_id}/`.
    pub fn belongs_to(&self, project: &ProjectId) -> bool {
        self.0
            .strip_prefix(project.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// One image of a task result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    offset: i64,
    object_key: ObjectKey,
}

impl Snapshot {
    /// One image at `offset` seconds (0 to [`MAX_SNAPSHOT_OFFSET`]).
    ///
    /// ```
    /// use vodsnap_domain::{ObjectKey, RegistrationError, Snapshot};
    ///
    /// let key = ObjectKey::parse("acme/a/t/0.jpg")?;
    /// assert_eq!(Snapshot::new(10, key.clone())?.offset(), 10);
    /// assert_eq!(Snapshot::new(-1, key), Err(RegistrationError::Offset(-1)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(offset: i64, object_key: ObjectKey) -> Result<Self, RegistrationError> {
        if !(0..=MAX_SNAPSHOT_OFFSET).contains(&offset) {
            return Err(RegistrationError::Offset(offset));
        }
        Ok(Self { offset, object_key })
    }

    /// Seconds into the video.
    /// Seconds into the media.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Where the image is stored.
    pub fn object_key(&self) -> &ObjectKey {
        &self.object_key
    }
}

/// Why a registration is refused before any store is asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("thumbnails must hold 1 to {MAX_SNAPSHOTS} items, got {0}")]
    SnapshotCount(usize),
    #[error("thumbnails[].offset must be between 0 and {MAX_SNAPSHOT_OFFSET}, got {0}")]
    Offset(i64),
    #[error("thumbnails[].offset {0} appears more than once")]
    DuplicateOffset(i64),
    #[error("thumbnails[].object_key '{0}' appears more than once")]
    DuplicateObjectKey(String),
    #[error("thumbnails[{index}].object_key must start with the project's prefix '{prefix}'")]
    ObjectKeyOutsideProject { index: usize, prefix: String },
}

/// A task result to register: valid, snapshots ordered by offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTaskResult {
    project: ProjectId,
    asset: AssetId,
    task: TaskId,
    para: ThumbnailPara,
    snapshots: Vec<Snapshot>,
}

/// What a store already holds under a task id, as far as a registration cares.
#[derive(Debug, Clone, Copy)]
pub enum Existing<'a> {
    Nothing,
    Live(&'a TaskResult),
    Deleted,
}

/// What a registration must do, given what the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationDecision {
    /// Nothing under this id: store it (201).
    Create,
    /// The same result is already stored: answer it again (200).
    AlreadyRegistered,
    /// Another result is stored under this id (409).
    ConflictsWithLive,
    /// The id was deleted; ids are never reused (409).
    ConflictsWithDeleted,
}

impl NewTaskResult {
    /// A task result to register: 1 to [`MAX_SNAPSHOTS`] snapshots of
    /// distinct offsets and keys, every key under `{project}/`. Snapshots
    /// are ordered by offset.
    ///
    /// ```
    /// use vodsnap_domain::*;
    ///
    /// let (project, asset, task) = (ProjectId::parse("acme")?, AssetId::parse("a1")?, TaskId::parse("t1")?);
    /// let para = ThumbnailPara::parse(ThumbnailParaInput { kind: Some("time".into()), ..Default::default() })?;
    /// let snapshot = |offset, key| Snapshot::new(offset, ObjectKey::parse(key).unwrap()).unwrap();
    ///
    /// let result = NewTaskResult::new(
    ///     project.clone(), asset.clone(), task.clone(), para.clone(),
    ///     vec![snapshot(10, "acme/a1/t1/1.jpg"), snapshot(0, "acme/a1/t1/0.jpg")],
    /// )?;
    /// assert_eq!(result.snapshots()[0].offset(), 0);
    /// assert_eq!(result.decide(Existing::Nothing), RegistrationDecision::Create);
    /// assert_eq!(result.decide(Existing::Deleted), RegistrationDecision::ConflictsWithDeleted);
    ///
    /// let stored = result.clone().into_stored(Timestamp::from_secs(1_700_000_000));
    /// assert_eq!(result.decide(Existing::Live(&stored)), RegistrationDecision::AlreadyRegistered);
    /// assert_eq!(stored.summary().snapshot_count, 2);
    ///
    /// let outside = NewTaskResult::new(project, asset, task, para, vec![snapshot(0, "other/0.jpg")]);
    /// assert!(matches!(outside, Err(RegistrationError::ObjectKeyOutsideProject { index: 0, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        project: ProjectId,
        asset: AssetId,
        task: TaskId,
        para: ThumbnailPara,
        snapshots: Vec<Snapshot>,
    ) -> Result<Self, RegistrationError> {
        // Checked before the snapshots are sorted, so that the error names
        // the item as the request listed it.
        if let Some(index) = snapshots
            .iter()
            .position(|s| !s.object_key.belongs_to(&project))
        {
            return Err(RegistrationError::ObjectKeyOutsideProject {
                index,
                prefix: format!("{project}/"),
            });
        }
        Self::checked(project, asset, task, para, snapshots)
    }

    /// The rules every task result obeys, stored or new; the project
    /// prefix of object keys is a registration rule (rows stored before it
    /// may break it, and stay readable and deletable).
    fn checked(
        project: ProjectId,
        asset: AssetId,
        task: TaskId,
        para: ThumbnailPara,
        mut snapshots: Vec<Snapshot>,
    ) -> Result<Self, RegistrationError> {
        if snapshots.is_empty() || snapshots.len() > MAX_SNAPSHOTS {
            return Err(RegistrationError::SnapshotCount(snapshots.len()));
        }
        let mut offsets = HashSet::with_capacity(snapshots.len());
        let mut keys = HashSet::with_capacity(snapshots.len());
        for s in &snapshots {
            if !offsets.insert(s.offset) {
                return Err(RegistrationError::DuplicateOffset(s.offset));
            }
            if !keys.insert(s.object_key.as_str()) {
                return Err(RegistrationError::DuplicateObjectKey(
                    s.object_key.as_str().to_owned(),
                ));
            }
        }
        snapshots.sort_by_key(Snapshot::offset);
        Ok(Self {
            project,
            asset,
            task,
            para,
            snapshots,
        })
    }

    /// The project it is registered in.
    pub fn project(&self) -> &ProjectId {
        &self.project
    }
    /// The asset its snapshots are of.
    pub fn asset(&self) -> &AssetId {
        &self.asset
    }
    /// The task that made it.
    pub fn task(&self) -> &TaskId {
        &self.task
    }
    /// Its parameters, defaults filled in.
    pub fn para(&self) -> &ThumbnailPara {
        &self.para
    }
    /// Ordered by offset.
    pub fn snapshots(&self) -> &[Snapshot] {
        &self.snapshots
    }

    /// The rule for a task id seen before: the same body is idempotent, a
    /// different body or a deleted id conflicts.
    pub fn decide(&self, existing: Existing<'_>) -> RegistrationDecision {
        match existing {
            Existing::Nothing => RegistrationDecision::Create,
            Existing::Deleted => RegistrationDecision::ConflictsWithDeleted,
            Existing::Live(stored) if *self == stored.registered => {
                RegistrationDecision::AlreadyRegistered
            }
            Existing::Live(_) => RegistrationDecision::ConflictsWithLive,
        }
    }

    /// The stored form, stamped with its registration time.
    pub fn into_stored(self, created_at: Timestamp) -> TaskResult {
        TaskResult {
            registered: self,
            created_at,
        }
    }
}

/// A registered, live task result: what its registration held, stamped
/// with its registration time. It reads as the registered result
/// ([`Deref`](std::ops::Deref)): its project, asset, task, parameters and
/// snapshots are that result's, so their getters are written once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    registered: NewTaskResult,
    created_at: Timestamp,
}

impl std::ops::Deref for TaskResult {
    type Target = NewTaskResult;

    fn deref(&self) -> &NewTaskResult {
        &self.registered
    }
}

impl TaskResult {
    /// A task result as a store kept it: every rule of a task result but
    /// the registration-only object-key prefix (see [`NewTaskResult::new`]).
    pub fn restore(
        project: ProjectId,
        asset: AssetId,
        task: TaskId,
        para: ThumbnailPara,
        snapshots: Vec<Snapshot>,
        created_at: Timestamp,
    ) -> Result<Self, RegistrationError> {
        Ok(NewTaskResult::checked(project, asset, task, para, snapshots)?.into_stored(created_at))
    }

    /// When it was registered.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// What the list call shows of it.
    pub fn summary(&self) -> TaskSummary {
        let r = &self.registered;
        TaskSummary {
            task: r.task.clone(),
            asset: r.asset.clone(),
            para: r.para.clone(),
            snapshot_count: r.snapshots.len(),
            created_at: self.created_at,
        }
    }
}

/// A task result as the list call shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSummary {
    pub task: TaskId,
    pub asset: AssetId,
    pub para: ThumbnailPara,
    pub snapshot_count: usize,
    pub created_at: Timestamp,
}

/// Filters of the list call; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub asset: Option<AssetId>,
    pub task: Option<TaskId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thumbnail::ThumbnailParaInput;
    use proptest::prelude::*;

    fn para() -> ThumbnailPara {
        ThumbnailPara::parse(ThumbnailParaInput {
            kind: Some("time".into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_key_names_its_project_by_its_first_segment() {
        let key = |raw| ObjectKey::parse(raw).unwrap();
        assert_eq!(
            key("p1/a/0.jpg").project(),
            Some(ProjectId::parse("p1").unwrap())
        );
        assert_eq!(
            key("p1/0.jpg").project(),
            Some(ProjectId::parse("p1").unwrap())
        );
        // One segment only, or a first segment no project can have.
        assert_eq!(key("0.jpg").project(), None);
        assert_eq!(key("bad project/0.jpg").project(), None);
    }

    fn snap(offset: i64, key: &str) -> Snapshot {
        Snapshot::new(offset, ObjectKey::parse(key).unwrap()).unwrap()
    }

    fn new(task: &str, snaps: Vec<Snapshot>) -> Result<NewTaskResult, RegistrationError> {
        NewTaskResult::new(
            ProjectId::parse("p").unwrap(),
            AssetId::parse("a").unwrap(),
            TaskId::parse(task).unwrap(),
            para(),
            snaps,
        )
    }

    #[test]
    fn object_key_rules() {
        assert!(ObjectKey::parse("p1/a1/t1/0.jpg").is_ok());
        assert!(ObjectKey::parse("a..b/c").is_ok());
        assert_eq!(ObjectKey::parse(""), Err(ObjectKeyError::Length));
        assert_eq!(
            ObjectKey::parse(&"k".repeat(1025)),
            Err(ObjectKeyError::Length)
        );
        assert!(ObjectKey::parse(&"k".repeat(1024)).is_ok());
        assert_eq!(ObjectKey::parse("/abs"), Err(ObjectKeyError::Absolute));
        assert_eq!(ObjectKey::parse("a/../b"), Err(ObjectKeyError::DotSegment));
        assert_eq!(ObjectKey::parse(".."), Err(ObjectKeyError::DotSegment));
        assert_eq!(
            ObjectKey::parse("p/a/./b.jpg"),
            Err(ObjectKeyError::DotSegment)
        );
        assert_eq!(
            ObjectKey::parse("p/a//b.jpg"),
            Err(ObjectKeyError::EmptySegment)
        );
        assert_eq!(
            ObjectKey::parse("p/a/b/"),
            Err(ObjectKeyError::TrailingSlash)
        );
        assert_eq!(
            ObjectKey::parse("p/a#12"),
            Err(ObjectKeyError::ReservedSuffix)
        );
        assert!(ObjectKey::parse("p/a#12/b").is_ok());
        assert!(ObjectKey::parse("p/a#x1").is_ok());
        assert!(ObjectKey::parse("p/a#").is_ok());
        assert_eq!(
            ObjectKey::parse("a\nb"),
            Err(ObjectKeyError::ControlCharacter)
        );
    }

    #[test]
    fn snapshot_offset_is_non_negative() {
        assert_eq!(
            Snapshot::new(-1, ObjectKey::parse("k").unwrap()),
            Err(RegistrationError::Offset(-1))
        );
    }

    #[test]
    fn needs_one_to_ten_thousand_snapshots() {
        assert_eq!(new("t", vec![]), Err(RegistrationError::SnapshotCount(0)));
        let many: Vec<Snapshot> = (0..10_001).map(|i| snap(i, &format!("p/k{i}"))).collect();
        assert_eq!(
            new("t", many),
            Err(RegistrationError::SnapshotCount(10_001))
        );
    }

    #[test]
    fn offsets_and_keys_are_distinct() {
        assert_eq!(
            new("t", vec![snap(1, "p/a"), snap(1, "p/b")]),
            Err(RegistrationError::DuplicateOffset(1))
        );
        assert_eq!(
            new("t", vec![snap(1, "p/a"), snap(2, "p/a")]),
            Err(RegistrationError::DuplicateObjectKey("p/a".into()))
        );
    }

    #[test]
    fn object_keys_belong_to_their_project() {
        let p = ProjectId::parse("p").unwrap();
        assert!(ObjectKey::parse("p/a.jpg").unwrap().belongs_to(&p));
        assert!(!ObjectKey::parse("px/a.jpg").unwrap().belongs_to(&p));
        assert!(!ObjectKey::parse("q/p/a.jpg").unwrap().belongs_to(&p));
        assert!(!ObjectKey::parse("p").unwrap().belongs_to(&p));
    }

    #[test]
    fn a_registration_names_the_first_key_outside_its_project() {
        let snaps = vec![
            snap(5, "p/a"),
            Snapshot::new(1, ObjectKey::parse("q/b").unwrap()).unwrap(),
        ];
        assert_eq!(
            new("t", snaps.clone()),
            Err(RegistrationError::ObjectKeyOutsideProject {
                index: 1,
                prefix: "p/".into()
            })
        );
        assert_eq!(
            new("t", snaps).unwrap_err().to_string(),
            "thumbnails[1].object_key must start with the project's prefix 'p/'"
        );
    }

    #[test]
    fn a_stored_result_outside_the_prefix_is_restored() {
        let restored = TaskResult::restore(
            ProjectId::parse("p").unwrap(),
            AssetId::parse("a").unwrap(),
            TaskId::parse("t").unwrap(),
            para(),
            vec![Snapshot::new(0, ObjectKey::parse("legacy/k").unwrap()).unwrap()],
            Timestamp::from_micros(1),
        )
        .unwrap();
        assert_eq!(restored.snapshots()[0].object_key().as_str(), "legacy/k");
    }

    #[test]
    fn snapshots_are_ordered_by_offset() {
        let r = new("t", vec![snap(10, "p/b"), snap(0, "p/a")]).unwrap();
        let offsets: Vec<i64> = r.snapshots().iter().map(Snapshot::offset).collect();
        assert_eq!(offsets, [0, 10]);
    }

    #[test]
    fn registration_decisions() {
        let first = new("t", vec![snap(0, "p/a")]).unwrap();
        let stored = first.clone().into_stored(Timestamp::from_micros(1));
        assert_eq!(
            first.decide(Existing::Nothing),
            RegistrationDecision::Create
        );
        assert_eq!(
            first.decide(Existing::Live(&stored)),
            RegistrationDecision::AlreadyRegistered
        );
        let other = new("t", vec![snap(0, "p/b")]).unwrap();
        assert_eq!(
            other.decide(Existing::Live(&stored)),
            RegistrationDecision::ConflictsWithLive
        );
        assert_eq!(
            first.decide(Existing::Deleted),
            RegistrationDecision::ConflictsWithDeleted
        );
    }

    #[test]
    fn same_snapshots_in_another_order_are_the_same_body() {
        let a = new("t", vec![snap(0, "p/a"), snap(5, "p/b")]).unwrap();
        let b = new("t", vec![snap(5, "p/b"), snap(0, "p/a")]).unwrap();
        let stored = a.into_stored(Timestamp::from_micros(1));
        assert_eq!(
            b.decide(Existing::Live(&stored)),
            RegistrationDecision::AlreadyRegistered
        );
    }

    proptest! {
        /// The byte-level check is `char::is_control`, for any text: the
        /// strategy mixes C0, DEL, C1, their neighbours and other text.
        #[test]
        fn the_byte_check_for_control_characters_is_is_control(
            raw in "[\\x00-\\x21\\x7e-\\u{a1}\\u{100}-\\u{120}a-z\\u{1f600}]{0,12}"
        ) {
            prop_assert_eq!(
                has_control_character(&raw),
                raw.chars().any(char::is_control)
            );
        }

        #[test]
        fn no_key_makes_object_key_parse_panic(raw in any::<String>()) {
            if let Ok(k) = ObjectKey::parse(&raw) {
                prop_assert_eq!(k.as_str(), raw.as_str());
                prop_assert!(!raw.starts_with('/'));
            }
        }
    }
}
