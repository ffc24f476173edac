/// A rejected ARM resource ID, with the reason.
public struct ResourceIDError: Error, Sendable, Equatable, CustomStringConvertible {
    public var resourceID: String
    public var reason: String
    public var description: String { "invalid image template resource ID \"\(resourceID)\": \(reason)" }
}

/// The ARM identity of one `Microsoft.VirtualMachineImages/imageTemplates` resource.
public struct ImageTemplateID: Hashable, Sendable, CustomStringConvertible {
    public var subscriptionID: String
    public var resourceGroup: String
    public var name: String

    public init(subscriptionID: String, resourceGroup: String, name: String) {
        self.subscriptionID = subscriptionID
        self.resourceGroup = resourceGroup
        self.name = name
    }

    /// Parses `/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.VirtualMachineImages/imageTemplates/{name}`.
    /// ARM treats the literal segments case-insensitively, so this does too.
    public init(resourceID: String) throws(ResourceIDError) {
        let parts = resourceID.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let literals = [(1, "subscriptions"), (3, "resourceGroups"), (5, "providers"),
                        (6, "Microsoft.VirtualMachineImages"), (7, "imageTemplates")]
        guard parts.count == 9, parts[0].isEmpty,
              literals.allSatisfy({ parts[$0.0].lowercased() == $0.1.lowercased() }) else {
            throw ResourceIDError(resourceID: resourceID,
                                  reason: "expected /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.VirtualMachineImages/imageTemplates/{name}")
        }
        let id = ImageTemplateID(subscriptionID: parts[2], resourceGroup: parts[4], name: parts[8])
        if let problem = id.validationProblem { throw ResourceIDError(resourceID: resourceID, reason: problem) }
        self = id
    }

    /// Why ARM would reject these names, or nil. Rules from ARM's naming restrictions for
    /// subscriptions, resource groups and image templates.
    public var validationProblem: String? {
        let hex = Set("0123456789abcdefABCDEF")
        let groups = subscriptionID.split(separator: "-", omittingEmptySubsequences: false)
        if groups.map(\.count) != [8, 4, 4, 4, 12] || !groups.allSatisfy({ $0.allSatisfy(hex.contains) }) {
            return "subscription ID \"\(subscriptionID)\" is not a GUID"
        }
        let groupAllowed: (Character) -> Bool = { $0.isLetter || $0.isNumber || "_-.()".contains($0) }
        if resourceGroup.isEmpty || resourceGroup.count > 90 || !resourceGroup.allSatisfy(groupAllowed) || resourceGroup.hasSuffix(".") {
            return "resource group \"\(resourceGroup)\" must be 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'"
        }
        let nameAllowed: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
        if name.isEmpty || name.count > 64 || !name.allSatisfy(nameAllowed) {
            return "template name \"\(name)\" must be 1-64 ASCII letters, digits, '_', '-' or '.'"
        }
        return nil
    }

    /// The resource path under the ARM endpoint.
    public var resourcePath: String {
        "/subscriptions/\(subscriptionID)/resourceGroups/\(resourceGroup)/providers/Microsoft.VirtualMachineImages/imageTemplates/\(name)"
    }

    public var description: String { resourcePath }
}
