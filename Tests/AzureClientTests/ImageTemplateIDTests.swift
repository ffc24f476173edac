import Testing
import AzureClient

@Suite struct ImageTemplateIDTests {
    let sub = "00000000-0000-0000-0000-000000000000"

    @Test func roundTripsAndIgnoresLiteralCase() throws {
        let path = "/subscriptions/\(sub)/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/ubuntu-2204"
        let id = try ImageTemplateID(resourceID: path)
        #expect(id == ImageTemplateID(subscriptionID: sub, resourceGroup: "images", name: "ubuntu-2204"))
        #expect(id.resourcePath == path)
        #expect(try ImageTemplateID(resourceID: path.lowercased()).name == "ubuntu-2204")
    }

    @Test(arguments: [
        ("/subscriptions/x/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/t", "not a GUID"),
        ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images./providers/Microsoft.VirtualMachineImages/imageTemplates/t", "resource group"),
        ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.VirtualMachineImages/imageTemplates/a b", "template name"),
        ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.Compute/images/t", "expected /subscriptions"),
    ])
    func rejectsWithAReason(id: String, reason: String) {
        #expect {
            try ImageTemplateID(resourceID: id)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}
