/// The version `dfc --version` prints, and what caches of compiled results key on
/// besides the model and the configuration.
public enum DFCVersion {
    public static let string = "0.9.0"
}
