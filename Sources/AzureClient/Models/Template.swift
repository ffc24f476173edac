/// A Marketplace image (`PlatformImage`).
public struct PlatformImageSource: Codable, Sendable, Equatable {
    public var type: String
    public var publisher: String?
    public var offer: String?
    public var sku: String?
    public var version: String?
    public var exactVersion: String?
}

/// A managed image in the subscription (`ManagedImage`).
public struct ManagedImageSource: Codable, Sendable, Equatable {
    public var type: String
    public var imageId: String?
}

/// A gallery image version (`SharedImageVersion`).
public struct SharedImageVersionSource: Codable, Sendable, Equatable {
    public var type: String
    public var imageVersionId: String?
    public var exactVersion: String?
}

/// A customizer or validator step; the members common to every kind are typed.
public struct ScriptStep: Codable, Sendable, Equatable {
    public var type: String
    public var name: String?
    public var scriptUri: String?
    public var inline: [String]?
    public var sha256Checksum: String?
}

/// Distribution to a managed image.
public struct ManagedImageDistributor: Codable, Sendable, Equatable {
    public var type: String
    public var runOutputName: String?
    public var imageId: String?
    public var location: String?
    public var artifactTags: [String: String]?
}

/// Distribution to an Azure Compute Gallery image.
public struct SharedImageDistributor: Codable, Sendable, Equatable {
    public var type: String
    public var runOutputName: String?
    public var galleryImageId: String?
    public var replicationRegions: [String]?
    public var excludeFromLatest: Bool?
    public var storageAccountType: String?
    public var artifactTags: [String: String]?
}

/// Distribution to a VHD in a storage account.
public struct VhdDistributor: Codable, Sendable, Equatable {
    public var type: String
    public var runOutputName: String?
    public var uri: String?
    public var artifactTags: [String: String]?
}

/// The in-VM validation phase.
public struct ValidationFields: Codable, Sendable, Equatable {
    public var continueDistributeOnFailure: Bool?
    public var sourceValidationOnly: Bool?
    public var inVMValidations: [ImageTemplateInVMValidator]?
}

/// The build VM's size, disk and network.
public struct VmProfileFields: Codable, Sendable, Equatable {
    public var vmSize: String?
    public var osDiskSizeGB: Int?
    public var userAssignedIdentities: [String]?
    public var vnetConfig: JSONValue?

    public init(vmSize: String? = nil, osDiskSizeGB: Int? = nil, userAssignedIdentities: [String]? = nil, vnetConfig: JSONValue? = nil) {
        self.vmSize = vmSize
        self.osDiskSizeGB = osDiskSizeGB
        self.userAssignedIdentities = userAssignedIdentities
        self.vnetConfig = vnetConfig
    }
}
public typealias VmProfile = Extensible<VmProfileFields>

/// One user-assigned identity attached to the template.
public struct UserAssignedIdentity: Codable, Sendable, Equatable {
    public var principalId: String?
    public var clientId: String?
}

/// The identity the build runs as.
public struct IdentityFields: Codable, Sendable, Equatable {
    public var type: String?
    public var userAssignedIdentities: [String: UserAssignedIdentity?]?

    public init(type: String? = nil, userAssignedIdentities: [String: UserAssignedIdentity?]? = nil) {
        self.type = type
        self.userAssignedIdentities = userAssignedIdentities
    }
}
public typealias TemplateIdentity = Extensible<IdentityFields>

/// `properties` of an image template.
public struct ImageTemplatePropertiesFields: Codable, Sendable, Equatable {
    public var source: ImageTemplateSource?
    public var customize: [ImageTemplateCustomizer]?
    public var validate: Extensible<ValidationFields>?
    public var distribute: [ImageTemplateDistributor]?
    public var provisioningState: ProvisioningState?
    public var provisioningError: ProvisioningError?
    public var lastRunStatus: LastRunStatus?
    /// Minutes; 0 or absent means Azure's default of 240.
    public var buildTimeoutInMinutes: Int?
    public var vmProfile: VmProfile?
    public var stagingResourceGroup: String?
    public var exactStagingResourceGroup: String?
}
public typealias ImageTemplateProperties = Extensible<ImageTemplatePropertiesFields>

/// A `Microsoft.VirtualMachineImages/imageTemplates` resource.
public struct ImageTemplateFields: Codable, Sendable, Equatable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var identity: TemplateIdentity?
    public var properties: ImageTemplateProperties?

    public init(location: String, tags: [String: String]? = nil, identity: TemplateIdentity? = nil,
                properties: ImageTemplateProperties? = nil) {
        self.location = location
        self.tags = tags
        self.identity = identity
        self.properties = properties
    }
}
public typealias ImageTemplate = Extensible<ImageTemplateFields>

extension ImageTemplatePropertiesFields {
    /// Azure's build timeout for a template that gives none (0 or absent): the one place it is written.
    public static let defaultBuildTimeoutMinutes = 240

    /// The build timeout Azure applies for a `buildTimeoutInMinutes` of `minutes`.
    public static func effectiveBuildTimeoutMinutes(_ minutes: Int?) -> Int {
        guard let minutes, minutes > 0 else { return defaultBuildTimeoutMinutes }
        return minutes
    }

    /// The effective build timeout in minutes.
    public var effectiveBuildTimeoutMinutes: Int { Self.effectiveBuildTimeoutMinutes(buildTimeoutInMinutes) }
}

/// The body of Update (PATCH): only tags, identity and vmProfile can change in place.
public struct ImageTemplateUpdate: Codable, Sendable, Equatable {
    public var tags: [String: String]?
    public var identity: TemplateIdentity?
    public var properties: UpdateProperties?

    /// The updatable subset of `properties`.
    public struct UpdateProperties: Codable, Sendable, Equatable {
        public var vmProfile: VmProfile?
        public init(vmProfile: VmProfile? = nil) { self.vmProfile = vmProfile }
    }

    public init(tags: [String: String]? = nil, identity: TemplateIdentity? = nil, vmProfile: VmProfile? = nil) {
        self.tags = tags
        self.identity = identity
        self.properties = vmProfile.map { UpdateProperties(vmProfile: $0) }
    }
}

/// What one distributor produced.
public struct RunOutputPropertiesFields: Codable, Sendable, Equatable {
    public var artifactId: String?
    public var artifactUri: String?
    public var provisioningState: ProvisioningState?
}

/// A run output (`.../runOutputs/{name}`).
public struct RunOutputFields: Codable, Sendable, Equatable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var properties: Extensible<RunOutputPropertiesFields>?
}
public typealias RunOutput = Extensible<RunOutputFields>

/// One page of a list answer.
struct Page<Element: Codable & Sendable>: Codable, Sendable {
    var value: [Element]
    var nextLink: String?
}
