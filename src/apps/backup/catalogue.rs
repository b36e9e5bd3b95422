//! The manager's catalogue: every name, its versions (size and SHA-256), and
//! which servers hold each content. Plain data with no sockets; [`save`] and
//! [`load`] put it in the manager's `--state` folder (temporary file, fsync,
//! rename), so a manager restart finds it again.
//!
//! Content is addressed by its SHA-256, so two names (or two versions) with
//! the same bytes share one set of copies.
//!
//! [`save`]: Catalogue::save
//! [`load`]: Catalogue::load

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The catalogue's file inside `--state`.
pub const CATALOGUE_FILE: &str = "catalogue.json";

/// One stored version of a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// From 1, one more than the version before.
    pub number: u32,
    /// In bytes.
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Names, versions and locations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    files: BTreeMap<String, Vec<Version>>,
    /// SHA-256 to the servers that reported (or acknowledged) holding it.
    locations: BTreeMap<String, BTreeSet<String>>,
}

/// What a catalogue operation can refuse.
#[derive(Debug)]
pub enum CatalogueError {
    /// No such name.
    NoSuchFile(String),
    /// The name exists, without this version.
    NoSuchVersion {
        /// The name.
        name: String,
        /// The version asked for.
        version: u32,
        /// The newest version there is.
        latest: u32,
    },
    /// Reading or writing the state folder failed.
    Io(io::Error),
    /// The state file is not a catalogue.
    Corrupt(String),
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogueError::NoSuchFile(name) => write!(f, "no file named {name:?}"),
            CatalogueError::NoSuchVersion {
                name,
                version,
                latest,
            } => write!(
                f,
                "{name:?} has no version {version} (versions 1 to {latest})"
            ),
            CatalogueError::Io(e) => write!(f, "catalogue storage: {e}"),
            CatalogueError::Corrupt(why) => write!(f, "the catalogue file is damaged: {why}"),
        }
    }
}

impl std::error::Error for CatalogueError {}

impl From<io::Error> for CatalogueError {
    fn from(e: io::Error) -> Self {
        CatalogueError::Io(e)
    }
}

impl Catalogue {
    /// Records a new version of `name` held by `holders`; returns its number.
    pub fn commit(&mut self, name: &str, size: u64, sha256: &str, holders: &[String]) -> u32 {
        let versions = self.files.entry(name.to_string()).or_default();
        let number = versions.last().map_or(1, |v| v.number + 1);
        versions.push(Version {
            number,
            size,
            sha256: sha256.to_string(),
        });
        let places = self.locations.entry(sha256.to_string()).or_default();
        places.extend(holders.iter().cloned());
        number
    }

    /// Forgets every version of `name`; returns how many there were. Copies
    /// no longer referenced are deleted later, as orphans.
    pub fn remove(&mut self, name: &str) -> Result<usize, CatalogueError> {
        let versions = self
            .files
            .remove(name)
            .ok_or_else(|| CatalogueError::NoSuchFile(name.to_string()))?;
        let still_used = self.referenced();
        self.locations.retain(|sha, _| still_used.contains_key(sha));
        Ok(versions.len())
    }

    /// A version of `name`, the latest when `version` is `None`.
    pub fn version(&self, name: &str, version: Option<u32>) -> Result<&Version, CatalogueError> {
        let versions = self
            .files
            .get(name)
            .ok_or_else(|| CatalogueError::NoSuchFile(name.to_string()))?;
        let latest = versions.last().expect("a name keeps at least one version");
        match version {
            None => Ok(latest),
            Some(number) => {
                versions
                    .iter()
                    .find(|v| v.number == number)
                    .ok_or(CatalogueError::NoSuchVersion {
                        name: name.to_string(),
                        version: number,
                        latest: latest.number,
                    })
            }
        }
    }

    /// Names starting with `prefix`, with their versions, in name order.
    pub fn list<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a [Version])> {
        self.files
            .range(prefix.to_string()..)
            .take_while(move |(name, _)| name.starts_with(prefix))
            .map(|(name, versions)| (name.as_str(), versions.as_slice()))
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no name is stored.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every content some version refers to, with its size.
    pub fn referenced(&self) -> BTreeMap<String, u64> {
        self.files
            .values()
            .flatten()
            .map(|v| (v.sha256.clone(), v.size))
            .collect()
    }

    /// The servers known to hold `sha256`.
    pub fn locations_of(&self, sha256: &str) -> impl Iterator<Item = &String> {
        self.locations.get(sha256).into_iter().flatten()
    }

    /// Forgets that `server` holds `sha256` (a copy it was told to delete).
    pub fn drop_location(&mut self, sha256: &str, server: &str) -> bool {
        self.locations
            .get_mut(sha256)
            .is_some_and(|places| places.remove(server))
    }

    /// Brings the locations in line with what `server` reports holding: a
    /// referenced content it holds is recorded there, one it no longer holds
    /// (lost, deleted, or found corrupt by its scrub) is forgotten there.
    /// Returns true when anything changed.
    pub fn apply_report(&mut self, server: &str, held: &BTreeSet<String>) -> bool {
        let mut changed = false;
        for sha in self.referenced().keys() {
            let places = self.locations.entry(sha.clone()).or_default();
            if held.contains(sha) {
                changed |= places.insert(server.to_string());
            } else {
                changed |= places.remove(server);
            }
        }
        changed
    }

    /// Writes the catalogue into `dir` durably: a temporary file, fsync,
    /// rename over the old one, fsync of the folder.
    pub fn save(&self, dir: &Path) -> Result<(), CatalogueError> {
        let temporary = dir.join(format!("{CATALOGUE_FILE}.tmp"));
        let mut file = File::create(&temporary)?;
        let text = serde_json::to_vec(self).map_err(|e| CatalogueError::Corrupt(e.to_string()))?;
        file.write_all(&text)?;
        file.sync_all()?;
        fs::rename(&temporary, dir.join(CATALOGUE_FILE))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Reads the catalogue from `dir`; an empty one when there is none yet.
    pub fn load(dir: &Path) -> Result<Catalogue, CatalogueError> {
        match fs::read(dir.join(CATALOGUE_FILE)) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| CatalogueError::Corrupt(e.to_string()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Catalogue::default()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn putting_a_name_again_adds_a_version_and_get_picks_the_latest() {
        let mut catalogue = Catalogue::default();
        assert_eq!(catalogue.commit("a.txt", 1, &sha('a'), &["s1".into()]), 1);
        assert_eq!(catalogue.commit("a.txt", 2, &sha('b'), &["s1".into()]), 2);
        assert_eq!(catalogue.version("a.txt", None).unwrap().sha256, sha('b'));
        assert_eq!(
            catalogue.version("a.txt", Some(1)).unwrap().sha256,
            sha('a')
        );
        assert!(matches!(
            catalogue.version("a.txt", Some(3)),
            Err(CatalogueError::NoSuchVersion { latest: 2, .. })
        ));
        assert!(matches!(
            catalogue.version("b", None),
            Err(CatalogueError::NoSuchFile(_))
        ));
    }

    #[test]
    fn list_returns_only_names_under_the_prefix() {
        let mut catalogue = Catalogue::default();
        for name in ["docs/a", "docs/b", "docz", "a"] {
            catalogue.commit(name, 0, &sha('a'), &[]);
        }
        let names: Vec<_> = catalogue.list("docs/").map(|(n, _)| n).collect();
        assert_eq!(names, ["docs/a", "docs/b"]);
        assert_eq!(catalogue.list("").count(), 4);
    }

    #[test]
    fn remove_forgets_locations_no_other_name_uses() {
        let mut catalogue = Catalogue::default();
        catalogue.commit("a", 1, &sha('a'), &["s1".into()]);
        catalogue.commit("b", 1, &sha('a'), &["s2".into()]);
        catalogue.commit("c", 1, &sha('c'), &["s1".into()]);
        assert_eq!(catalogue.remove("a").unwrap(), 1);
        assert_eq!(
            catalogue.locations_of(&sha('a')).count(),
            2,
            "b still uses it"
        );
        catalogue.remove("c").unwrap();
        assert_eq!(catalogue.locations_of(&sha('c')).count(), 0);
        assert!(catalogue.remove("c").is_err());
    }

    #[test]
    fn reports_add_and_drop_locations() {
        let mut catalogue = Catalogue::default();
        catalogue.commit("a", 1, &sha('a'), &["s1".into()]);
        assert!(catalogue.apply_report("s2", &set(&[&sha('a')])));
        assert!(
            !catalogue.apply_report("s2", &set(&[&sha('a')])),
            "nothing new"
        );
        assert!(catalogue.apply_report("s1", &set(&[])), "s1 lost it");
        let places: Vec<_> = catalogue.locations_of(&sha('a')).cloned().collect();
        assert_eq!(places, ["s2"]);
    }

    #[test]
    fn a_saved_catalogue_loads_back_equal() {
        let dir = std::env::temp_dir().join(format!("distloop-catalogue-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(Catalogue::load(&dir).unwrap(), Catalogue::default());
        let mut catalogue = Catalogue::default();
        catalogue.commit("docs/a.txt", 5, &sha('a'), &["s1".into(), "s2".into()]);
        catalogue.save(&dir).unwrap();
        assert_eq!(Catalogue::load(&dir).unwrap(), catalogue);
        fs::write(dir.join(CATALOGUE_FILE), b"{not json").unwrap();
        assert!(matches!(
            Catalogue::load(&dir),
            Err(CatalogueError::Corrupt(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
