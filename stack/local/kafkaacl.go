package local

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"shop/service"
)

// Grant allows Principal the operations Ops on Resource.
type Grant struct {
	Principal string
	Resource  sarama.Resource
	Ops       []sarama.AclOperation
}

// TopicResource, GroupResource and their prefixed forms name what a Grant
// is on.
func TopicResource(name string) sarama.Resource {
	return sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: name, ResourcePatternType: sarama.AclPatternLiteral}
}

// TopicPrefixResource is every topic whose name starts with prefix.
func TopicPrefixResource(prefix string) sarama.Resource {
	return sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: prefix, ResourcePatternType: sarama.AclPatternPrefixed}
}

// GroupResource is the consumer group name.
func GroupResource(name string) sarama.Resource {
	return sarama.Resource{ResourceType: sarama.AclResourceGroup, ResourceName: name, ResourcePatternType: sarama.AclPatternLiteral}
}

// GroupPrefixResource is every consumer group whose name starts with prefix.
func GroupPrefixResource(prefix string) sarama.Resource {
	return sarama.Resource{ResourceType: sarama.AclResourceGroup, ResourceName: prefix, ResourcePatternType: sarama.AclPatternPrefixed}
}

// clusterResource is the cluster, which Kafka names kafka-cluster.
var clusterResource = sarama.Resource{ResourceType: sarama.AclResourceCluster, ResourceName: "kafka-cluster", ResourcePatternType: sarama.AclPatternLiteral}

var (
	opsRead     = []sarama.AclOperation{sarama.AclOperationRead, sarama.AclOperationDescribe}
	opsDescribe = []sarama.AclOperation{sarama.AclOperationDescribe}
	// opsPublish is what Kafka Connect needs on a topic its connectors
	// write: create it (topic.creation.enable), learn its partitions,
	// write. WRITE implies the idempotent producer's IdempotentWrite.
	opsPublish = []sarama.AclOperation{sarama.AclOperationWrite, sarama.AclOperationDescribe, sarama.AclOperationCreate, sarama.AclOperationDescribeConfigs}
	opsAll     = []sarama.AclOperation{sarama.AclOperationAll}
)

// The consumer groups the stack grants the services: orders' and payments'
// default ORDERS_CONSUMER_GROUP and PAYMENTS_CONSUMER_GROUP.
const (
	OrdersGroup   = "orders"
	PaymentsGroup = "payments"
)

// debeziumHeartbeatPrefix starts the topics Debezium writes its heartbeat
// records to (__debezium-heartbeat.<topic.prefix>).
const debeziumHeartbeatPrefix = "__debezium-heartbeat."

// ShopGrants is the shop's access to Kafka, nothing more: orders reads
// topics.Payments in group ordersGroup, payments reads topics.Orders in
// group paymentsGroup, Kafka Connect (worker group connectGroup) alone
// writes both topics, its internal topics and Debezium's heartbeats, and
// shopctl may only describe the topics and the groups (lag).
func ShopGrants(topics service.Topics, ordersGroup, paymentsGroup, connectGroup string) []Grant {
	return append([]Grant{
		{KafkaOrders, TopicResource(topics.Payments), opsRead},
		{KafkaOrders, GroupResource(ordersGroup), opsRead},
		{KafkaPayments, TopicResource(topics.Orders), opsRead},
		{KafkaPayments, GroupResource(paymentsGroup), opsRead},
		{KafkaConnect, TopicResource(topics.Orders), opsPublish},
		{KafkaConnect, TopicResource(topics.Payments), opsPublish},
		{KafkaShopctl, TopicResource(topics.Orders), opsDescribe},
		{KafkaShopctl, TopicResource(topics.Payments), opsDescribe},
		{KafkaShopctl, GroupResource(ordersGroup), opsDescribe},
		{KafkaShopctl, GroupResource(paymentsGroup), opsDescribe},
	}, ConnectWorkerGrants(connectGroup)...)
}

// ConnectWorkerGrants is what a Kafka Connect worker of group group needs
// beyond the topics its connectors write: its group, its internal topics
// (_<group>-configs, -offsets, -status) and Debezium's heartbeat topics.
func ConnectWorkerGrants(group string) []Grant {
	return []Grant{
		{KafkaConnect, GroupResource(group), opsRead},
		{KafkaConnect, TopicPrefixResource("_" + group + "-"), opsAll},
		{KafkaConnect, TopicPrefixResource(debeziumHeartbeatPrefix), opsPublish},
		{KafkaConnect, clusterResource, opsDescribe},
	}
}

// TestTopicGrants is the access to a topic a test creates: Connect writes
// it, the services read it, shopctl describes it, the tests' principal does
// anything with it.
func TestTopicGrants(topic string) []Grant {
	r := TopicResource(topic)
	return []Grant{
		{KafkaConnect, r, opsPublish},
		{KafkaOrders, r, opsRead},
		{KafkaPayments, r, opsRead},
		{KafkaShopctl, r, opsDescribe},
		{KafkaTester, r, opsAll},
	}
}

// testInfraGrants is what StartInfra grants beyond its worker's: the
// groups a test names after the service (orders-..., payments-...), and
// every group to the tests' principal.
func testInfraGrants() []Grant {
	return []Grant{
		{KafkaOrders, GroupPrefixResource(OrdersGroup), opsRead},
		{KafkaPayments, GroupPrefixResource(PaymentsGroup), opsRead},
		{KafkaShopctl, GroupPrefixResource(OrdersGroup), opsDescribe},
		{KafkaShopctl, GroupPrefixResource(PaymentsGroup), opsDescribe},
		{KafkaTester, GroupResource("*"), opsAll},
		{KafkaTester, clusterResource, []sarama.AclOperation{sarama.AclOperationDescribe, sarama.AclOperationDescribeConfigs}},
	}
}

// Anonymous is the principal of a client on a PLAINTEXT listener.
const Anonymous = "ANONYMOUS"

// EnsureACLs adds grants (allow, from any host) as KafkaAdmin, and returns
// once the broker enforces them; an ACL that exists already stays as it
// is. It returns an error naming the grant the controller refused.
func EnsureACLs(brokers []string, secrets KafkaSecrets, grants []Grant) error {
	if len(grants) == 0 {
		return nil
	}
	client, err := sarama.NewClient(brokers, secrets.AdminConfig())
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer client.Close()
	req := &sarama.CreateAclsRequest{Version: 1}
	var what []string
	for _, g := range grants {
		for _, op := range g.Ops {
			req.AclCreations = append(req.AclCreations, &sarama.AclCreation{Resource: g.Resource,
				Acl: sarama.Acl{Principal: "User:" + g.Principal, Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow}})
			what = append(what, fmt.Sprintf("%s %s on %s", g.Principal, op.String(), g.Resource.ResourceName))
		}
	}
	controller, err := client.Controller()
	if err != nil {
		return fmt.Errorf("kafka acls: %w", err)
	}
	resp, err := controller.CreateAcls(req)
	if err != nil {
		return fmt.Errorf("kafka acls: %w", err)
	}
	for i, r := range resp.AclCreationResponses {
		if r.Err != sarama.ErrNoError && i < len(what) {
			return fmt.Errorf("kafka acl %s: %w", what[i], r.Err)
		}
	}
	return waitACL(client, req.AclCreations[len(req.AclCreations)-1])
}

// waitACL returns once the broker lists c, the last ACL created: the
// broker applies the metadata log in order, so the ones before it are in
// force too.
func waitACL(client sarama.Client, c *sarama.AclCreation) error {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return err
	}
	principal, host := c.Principal, c.Host
	filter := sarama.AclFilter{Version: 1, ResourceType: c.ResourceType, ResourceName: &c.ResourceName,
		ResourcePatternTypeFilter: c.ResourcePatternType, Principal: &principal, Host: &host,
		Operation: c.Operation, PermissionType: c.PermissionType}
	var last error
	for range 100 {
		acls, err := admin.ListAcls(filter)
		if err == nil && len(acls) > 0 {
			return nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("kafka acl on %s: not in force after 5 s (%v)", c.ResourceName, last)
}
