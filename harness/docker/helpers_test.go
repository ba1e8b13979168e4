package docker

import "github.com/outagelab/outagelab/harness/topology"

func topoTwoCallees(pb, pc int) *topology.Topology {
	comp := func(name string, port int) *topology.Component {
		return &topology.Component{Name: name, Kind: topology.KindUser, Image: "img", Ports: []topology.Port{{Name: "http", Container: port}}}
	}
	return &topology.Topology{
		Name:       "t",
		Components: []*topology.Component{comp("a", 1), comp("b", pb), comp("c", pc)},
		Edges: []*topology.Edge{
			{Name: "a__b", From: "a", To: "b", Port: "http"},
			{Name: "a__c", From: "a", To: "c", Port: "http"},
		},
	}
}
