//! git's fsck message ids and their default severities: the one table every object check reports
//! through, and the names `receive.fsck.<msg-id>` overrides address. The rows are C git 2.47's
//! `FOREACH_FSCK_MSG_ID` list (fsck.h) in its order; ref checks (issue #16) add their rows here.

/// How much a problem matters, as git's `enum fsck_msg_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Always an error; cannot be demoted (the rest of the object cannot be parsed safely).
    Fatal,
    /// Refuses the object.
    Error,
    /// Reported; refuses the object under `--strict` (receive-pack always is strict).
    Warn,
    /// Reported as a warning, never refuses.
    Info,
    /// Not reported.
    Ignore,
}

impl Severity {
    /// Parses a configured severity (`error`, `warn` or `ignore`, exactly as git spells them:
    /// `parse_msg_type` compares case-sensitively and knows no other words).
    pub fn parse(value: &str) -> Option<Severity> {
        match value {
            "error" => Some(Severity::Error),
            "warn" => Some(Severity::Warn),
            "ignore" => Some(Severity::Ignore),
            _ => None,
        }
    }

    /// The word git uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warn => "warn",
            Severity::Info => "info",
            Severity::Ignore => "ignore",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgInfo {
    /// The id.
    pub id: MsgId,
    /// git's camelCase name (`gitmodulesUrl`), as printed in messages.
    pub name: &'static str,
    /// The severity when nothing overrides it.
    pub default: Severity,
}

macro_rules! msg_ids {
    ($($variant:ident $name:literal $sev:ident,)*) => {
        /// A kind of fsck problem, named as git names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MsgId {
            $(
                #[doc = concat!("git's `", $name, "`.")]
                $variant,
            )*
        }

        /// Every message id with its default severity, in [`MsgId`] order.
        pub static MSG_IDS: &[MsgInfo] = &[
            $(MsgInfo { id: MsgId::$variant, name: $name, default: Severity::$sev },)*
        ];
    };
}

msg_ids! {
    NulInHeader "nulInHeader" Fatal,
    UnterminatedHeader "unterminatedHeader" Fatal,
    BadDate "badDate" Error,
    BadDateOverflow "badDateOverflow" Error,
    BadEmail "badEmail" Error,
    BadName "badName" Error,
    BadObjectSha1 "badObjectSha1" Error,
    BadParentSha1 "badParentSha1" Error,
    BadRefFiletype "badRefFiletype" Error,
    BadRefName "badRefName" Error,
    BadTimezone "badTimezone" Error,
    BadTree "badTree" Error,
    BadTreeSha1 "badTreeSha1" Error,
    BadType "badType" Error,
    DuplicateEntries "duplicateEntries" Error,
    MissingAuthor "missingAuthor" Error,
    MissingCommitter "missingCommitter" Error,
    MissingEmail "missingEmail" Error,
    MissingNameBeforeEmail "missingNameBeforeEmail" Error,
    MissingObject "missingObject" Error,
    MissingSpaceBeforeDate "missingSpaceBeforeDate" Error,
    MissingSpaceBeforeEmail "missingSpaceBeforeEmail" Error,
    MissingTag "missingTag" Error,
    MissingTagEntry "missingTagEntry" Error,
    MissingTree "missingTree" Error,
    MissingType "missingType" Error,
    MissingTypeEntry "missingTypeEntry" Error,
    MultipleAuthors "multipleAuthors" Error,
    TreeNotSorted "treeNotSorted" Error,
    UnknownType "unknownType" Error,
    ZeroPaddedDate "zeroPaddedDate" Error,
    GitmodulesMissing "gitmodulesMissing" Error,
    GitmodulesBlob "gitmodulesBlob" Error,
    GitmodulesLarge "gitmodulesLarge" Error,
    GitmodulesName "gitmodulesName" Error,
    GitmodulesSymlink "gitmodulesSymlink" Error,
    GitmodulesUrl "gitmodulesUrl" Error,
    GitmodulesPath "gitmodulesPath" Error,
    GitmodulesUpdate "gitmodulesUpdate" Error,
    GitattributesMissing "gitattributesMissing" Error,
    GitattributesLarge "gitattributesLarge" Error,
    GitattributesLineLength "gitattributesLineLength" Error,
    GitattributesBlob "gitattributesBlob" Error,
    EmptyName "emptyName" Warn,
    FullPathname "fullPathname" Warn,
    HasDot "hasDot" Warn,
    HasDotdot "hasDotdot" Warn,
    HasDotgit "hasDotgit" Warn,
    NullSha1 "nullSha1" Warn,
    ZeroPaddedFilemode "zeroPaddedFilemode" Warn,
    NulInCommit "nulInCommit" Warn,
    LargePathname "largePathname" Warn,
    BadFilemode "badFilemode" Info,
    GitmodulesParse "gitmodulesParse" Info,
    GitignoreSymlink "gitignoreSymlink" Info,
    GitattributesSymlink "gitattributesSymlink" Info,
    MailmapSymlink "mailmapSymlink" Info,
    BadTagName "badTagName" Info,
    MissingTaggerEntry "missingTaggerEntry" Info,
    ExtraHeaderEntry "extraHeaderEntry" Ignore,
}

impl MsgId {
    fn info(self) -> &'static MsgInfo {
        // The table is generated from the same list as the enum, in the same order.
        &MSG_IDS[self as usize]
    }

    /// git's camelCase name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The default severity.
    pub fn default_severity(self) -> Severity {
        self.info().default
    }

    /// The id named `name` in configuration (`receive.fsck.<name>`): config keys reach git
    /// lower-cased, so the match ignores case, as git's `parse_msg_id` does.
    pub fn from_config_name(name: &str) -> Option<MsgId> {
        MSG_IDS
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .map(|m| m.id)
    }

    /// The position of this id in [`MSG_IDS`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for MsgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_enum() {
        for (i, m) in MSG_IDS.iter().enumerate() {
            assert_eq!(m.id.index(), i);
            assert_eq!(MsgId::from_config_name(&m.name.to_lowercase()), Some(m.id));
        }
        assert_eq!(MsgId::GitmodulesUrl.name(), "gitmodulesUrl");
        assert_eq!(MsgId::HasDotgit.default_severity(), Severity::Warn);
        assert_eq!(MsgId::from_config_name("nosuchcheck"), None);
    }
}
