// Temporary until the input branch lands: plain JSON files only.
use super::*;
pub fn discover(args: &[String]) -> (Vec<Source>, Vec<InputError>) {
    (
        args.iter()
            .map(|a| {
                if a == "-" {
                    Source::Stdin
                } else {
                    Source::Path(a.into())
                }
            })
            .collect(),
        vec![],
    )
}
pub fn load(source: &Source, _f: Option<InputFormat>) -> Result<LoadedFile, InputError> {
    let Source::Path(p) = source else {
        unreachable!()
    };
    let data = std::fs::read(p).map_err(|e| InputError::Io {
        file: source.display_name(),
        source: e,
    })?;
    LoadedFile::from_bytes(source.display_name(), data, InputFormat::Json)
}
