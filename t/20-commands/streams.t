# Stream commands through the generated methods, under RESP2 and RESP3: the
# values they return and the state they leave - XADD (explicit and automatic
# ids, NOMKSTREAM, MAXLEN), XLEN, XRANGE/XREVRANGE with COUNT and exclusive
# ends, non-blocking XREAD, consumer groups (XGROUP CREATE/CREATECONSUMER/
# DELCONSUMER/SETID/DESTROY, XREADGROUP, XACK, XPENDING, XCLAIM,
# XAUTOCLAIM), XTRIM, XDEL, XINFO STREAM/GROUPS/CONSUMERS. XREAD and
# XREADGROUP answer with a map under RESP3 and an array of [key, entries]
# under RESP2, XINFO with maps vs flat lists; both shapes are asserted.
# Error replies (WRONGTYPE, BUSYGROUP, NOGROUP, ERR) fail the future with an
# Error::Redis object and the client keeps working.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');

# An entry as the server sends it: [id, [field, value, ...]].
sub entry { my ( $id, @fv ) = @_; return [ $id, [@fv] ] }

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('streams');

        # XREAD / XREADGROUP reply for { key => [entries] }: a map under
        # RESP3, [[key, entries], ...] under RESP2.
        my $read_reply = sub {
            my (@pairs) = @_;
            return {@pairs} if $protocol == 3;
            my @list;
            push @list, [ splice @pairs, 0, 2 ] while @pairs;
            return \@list;
        };

        # A RESP3 map or a RESP2 flat list, as a hash.
        my $as_hash = sub {
            my ($reply) = @_;
            return $protocol == 3 ? $reply : {@$reply};
        };

        subtest 'XADD, XLEN, XRANGE, XREVRANGE' => sub {
            my $k = "$base:basic";
            is( $redis->xlen($k)->get, 0, 'XLEN of a missing key: 0' );
            is( $redis->xadd( $k, 'NOMKSTREAM', '*', f => 'v' )->get,
                undef, 'XADD NOMKSTREAM to a missing key: undef' );
            is( $redis->exists($k)->get, 0, '... nothing created' );

            is( $redis->xadd( $k, '1-1', name => 'a', n => 1 )->get, '1-1', 'XADD: the id' );
            is( $redis->xadd( $k, '1-*', name => 'b' )->get, '1-2', 'XADD 1-*: the next seq' );
            is( $redis->xadd( $k, '2-0', name => 'c' )->get, '2-0', 'XADD 2-0' );
            my $auto = $redis->xadd( $k, '*', name => 'd', bin => "\0\xff" )->get;
            like( $auto, qr/^\d+-\d+$/, "XADD *: a generated id ($auto)" );
            is( $redis->xlen($k)->get, 4, 'XLEN' );

            my $err = FIORTest::redis_error_ok(
                $redis, $redis->xadd( $k, '1-5', x => 1 ),
                'ERR',  'XADD with an id below the top'
            );
            like( $err->message, qr/equal or smaller/, '... says so' );
            FIORTest::redis_error_ok( $redis, $redis->xadd( $k, '*', 'odd' ),
                'ERR', 'XADD with an odd field list' );
            is( $redis->xlen($k)->get, 4, 'nothing added by the failures' );

            my @all = (
                entry( '1-1', name => 'a', n => '1' ),
                entry( '1-2', name => 'b' ),
                entry( '2-0', name => 'c' ),
                entry( $auto, name => 'd', bin => "\0\xff" ),
            );
            is( $redis->xrange( $k, '-', '+' )->get, \@all, 'XRANGE - +: every entry, intact' );
            is( $redis->xrange( $k, '1', '1' )->get, [ @all[ 0, 1 ] ], 'XRANGE of ms 1' );
            is(
                $redis->xrange( $k, '(1-1', '+', 'COUNT', 2 )->get,
                [ @all[ 1, 2 ] ],
                'exclusive start, COUNT 2'
            );
            is( $redis->xrange( $k, '3-0', '3-0' )->get, [],               'an empty range: []' );
            is( $redis->xrevrange( $k, '+', '-' )->get,  [ reverse @all ], 'XREVRANGE' );
            is(
                $redis->xrevrange( $k, '2-0', '-', 'COUNT', 1 )->get,
                [ $all[2] ],
                'XREVRANGE from 2-0 COUNT 1'
            );
            $redis->del($k)->get;
        };

        subtest 'XREAD (non-blocking)' => sub {
            my ( $k1, $k2 ) = ( "$base:read:1", "$base:read:2" );
            $redis->xadd( $k1, "1-$_", i => $_ )->get for 1 .. 3;
            $redis->xadd( $k2, '5-1',  j => 'x' )->get;
            is(
                $redis->xread( 'STREAMS', $k1, '0' )->get,
                $read_reply->( $k1 => [ map { entry( "1-$_", i => $_ ) } 1 .. 3 ] ),
                'XREAD from 0: ' . ( $protocol == 3 ? 'a map' : '[[key, entries]]' )
            );
            is(
                $redis->xread( 'COUNT', 1, 'STREAMS', $k1, $k2, '1-1', '0' )->get,
                $read_reply->(
                    $k1 => [ entry( '1-2', i => 2 ) ],
                    $k2 => [ entry( '5-1', j => 'x' ) ]
                ),
                'XREAD COUNT 1 of two streams'
            );
            is( $redis->xread( 'STREAMS', $k1, $k2, '1-3', '5-1' )->get,
                undef, 'XREAD with nothing new: undef' );
            is( $redis->xread( 'STREAMS', $k1, '$' )->get, undef, 'XREAD from $: undef' );
            is( $redis->xread( 'STREAMS', "$base:read:missing", '0' )->get,
                undef, 'XREAD of a missing key: undef' );
            $redis->del( $k1, $k2 )->get;
        };

        subtest 'consumer groups' => sub {
            my $k = "$base:group";
            $redis->xadd( $k, "1-$_", f => "v$_" )->get for 1 .. 5;
            is( $redis->xgroup_create( $k, 'g', '0' )->get, 'OK', 'XGROUP CREATE: OK' );
            FIORTest::redis_error_ok(
                $redis,      $redis->xgroup_create( $k, 'g', '0' ),
                'BUSYGROUP', 'XGROUP CREATE of an existing group'
            );
            is( $redis->xgroup_create( "$k:new", 'g', '$', 'MKSTREAM' )->get,
                'OK', 'XGROUP CREATE MKSTREAM' );
            is( $redis->type("$k:new")->get, 'stream', '... makes an empty stream' );
            is( $redis->xlen("$k:new")->get, 0,        '... of length 0' );
            FIORTest::redis_error_ok(
                $redis, $redis->xgroup_create( "$k:missing", 'g', '$' ),
                'ERR',  'XGROUP CREATE on a missing key without MKSTREAM'
            );

            is(
                $redis->xreadgroup( 'GROUP', 'g', 'c1', 'COUNT', 2, 'STREAMS', $k, '>' )->get,
                $read_reply->( $k => [ entry( '1-1', f => 'v1' ), entry( '1-2', f => 'v2' ) ] ),
                'XREADGROUP c1 COUNT 2: the first two'
            );
            is(
                $redis->xreadgroup( 'GROUP', 'g', 'c2', 'COUNT', 1, 'STREAMS', $k, '>' )->get,
                $read_reply->( $k => [ entry( '1-3', f => 'v3' ) ] ),
                'c2: the next one'
            );
            is(
                $redis->xreadgroup( 'GROUP', 'g', 'c1', 'STREAMS', $k, '0' )->get,
                $read_reply->( $k => [ entry( '1-1', f => 'v1' ), entry( '1-2', f => 'v2' ) ] ),
                'XREADGROUP from 0: c1\'s pending entries'
            );

            is(
                $redis->xpending( $k, 'g' )->get,
                [ 3, '1-1', '1-3', [ [ 'c1', '2' ], [ 'c2', '1' ] ] ],
                'XPENDING summary: count, first, last, per consumer'
            );
            my $ext = $redis->xpending( $k, 'g', '-', '+', 10 )->get;
            is(
                $ext,
                [
                    [ '1-1', 'c1', D(), 2 ],    # delivered twice: > and 0
                    [ '1-2', 'c1', D(), 2 ],
                    [ '1-3', 'c2', D(), 1 ],
                ],
                'XPENDING extended: id, consumer, idle, deliveries'
            );
            ok( !( grep { $_->[2] < 0 } @$ext ), '... idle times are not negative' );
            is(
                $redis->xpending( $k, 'g', '-', '+', 10, 'c2' )->get,
                [ [ '1-3', 'c2', D(), 1 ] ],
                'XPENDING of one consumer'
            );

            is(
                $redis->xclaim( $k, 'g', 'c2', 0, '1-1' )->get,
                [ entry( '1-1', f => 'v1' ) ],
                'XCLAIM: the claimed entries'
            );
            is( $redis->xclaim( $k, 'g', 'c2', 0, '1-2', 'JUSTID' )->get,
                ['1-2'], 'XCLAIM JUSTID: the ids' );
            is( $redis->xpending( $k, 'g' )->get->[3], [ [ 'c2', '3' ] ], 'c2 owns all three now' );
            is(
                $redis->xautoclaim( $k, 'g', 'c3', 0, '0-0', 'COUNT', 2 )->get,
                [ '1-3', [ entry( '1-1', f => 'v1' ), entry( '1-2', f => 'v2' ) ], [] ],
                'XAUTOCLAIM COUNT 2: [next cursor, entries, deleted ids]'
            );
            is(
                $redis->xautoclaim( $k, 'g', 'c3', 0, '1-3', 'JUSTID' )->get,
                [ '0-0', ['1-3'], [] ],
                'XAUTOCLAIM JUSTID from the cursor: the rest'
            );

            is( $redis->xack( $k, 'g', '1-1', '1-2', '9-9' )->get, 2, 'XACK: counts acked' );
            is( $redis->xack( $k, 'g', '1-1' )->get, 0, 'XACK again: 0' );
            is(
                $redis->xpending( $k, 'g' )->get,
                [ 1, '1-3', '1-3', [ [ 'c3', '1' ] ] ],
                'one pending left'
            );

            is(
                $redis->xreadgroup( 'GROUP', 'g', 'c1', 'STREAMS', $k, '>' )->get,
                $read_reply->( $k => [ entry( '1-4', f => 'v4' ), entry( '1-5', f => 'v5' ) ] ),
                'XREADGROUP >: the undelivered rest'
            );
            is( $redis->xreadgroup( 'GROUP', 'g', 'c1', 'STREAMS', $k, '>' )->get,
                undef, 'XREADGROUP > with nothing new: undef' );
            is(
                $redis->xreadgroup( 'GROUP', 'g', 'c1', 'NOACK', 'STREAMS', $k, '0' )->get,
                $read_reply->( $k => [ entry( '1-4', f => 'v4' ), entry( '1-5', f => 'v5' ) ] ),
                'XREADGROUP 0: c1\'s history'
            );

            my $groups = $redis->xinfo_groups($k)->get;
            is( scalar @$groups, 1, 'XINFO GROUPS: one group' );
            like(
                $as_hash->( $groups->[0] ),
                {
                    name                => 'g',
                    consumers           => 3,
                    pending             => 3,
                    'last-delivered-id' => '1-5',
                    'entries-read'      => 5,
                    lag                 => 0,
                },
                'XINFO GROUPS: ' . ( $protocol == 3 ? 'maps' : 'flat lists' )
            );
            is( ref $groups->[0], $protocol == 3 ? 'HASH' : 'ARRAY', '... of that shape' );
            my $consumers = $redis->xinfo_consumers( $k, 'g' )->get;
            is(
                { map { my $h = $as_hash->($_); ( $h->{name} => $h->{pending} ) } @$consumers },
                { c1 => 2, c2 => 0, c3 => 1 },
                'XINFO CONSUMERS: pending per consumer'
            );
            is( ref $consumers->[0], $protocol == 3 ? 'HASH' : 'ARRAY', '... of that shape' );

            is( $redis->xgroup_createconsumer( $k, 'g', 'c9' )->get, 1, 'CREATECONSUMER: 1' );
            is( $redis->xgroup_createconsumer( $k, 'g', 'c9' )->get, 0, '... again: 0' );
            is( $redis->xgroup_delconsumer( $k, 'g', 'c1' )->get,
                2, 'DELCONSUMER: the pending count it dropped' );
            is( $redis->xpending( $k, 'g' )->get->[0],     1, 'its entries are no longer pending' );
            is( $redis->xgroup_setid( $k, 'g', '0' )->get, 'OK', 'XGROUP SETID 0' );
            my $again  = $redis->xreadgroup( 'GROUP', 'g', 'c9', 'STREAMS', $k, '>' )->get;
            my %by_key = $protocol == 3 ? %$again : map { @$_ } @$again;
            is(
                [ map { $_->[0] } @{ $by_key{$k} } ],
                [ map { "1-$_" } 1 .. 5 ],
                'c9 reads all five again'
            );
            is( $redis->xgroup_destroy( $k, 'g' )->get, 1, 'XGROUP DESTROY: 1' );
            is( $redis->xgroup_destroy( $k, 'g' )->get, 0, '... again: 0' );
            FIORTest::redis_error_ok( $redis,
                $redis->xreadgroup( 'GROUP', 'g', 'c1', 'STREAMS', $k, '>' ),
                'NOGROUP', 'XREADGROUP of a destroyed group' );
            is( $redis->xack( "$k:new", 'nope', '1-1' )->get, 0, 'XACK of a missing group: 0' );
            is( $redis->del( $k, "$k:new" )->get,             2, 'DEL' );
        };

        subtest 'XTRIM, XDEL, XADD MAXLEN' => sub {
            my $k = "$base:trim";
            $redis->xadd( $k, "1-$_", i => $_ )->get for 1 .. 10;
            is( $redis->xdel( $k, '1-2', '1-4', '9-9' )->get, 2, 'XDEL: counts deleted' );
            is( $redis->xlen($k)->get,                        8, 'XLEN' );
            is( $redis->xtrim( $k, 'MAXLEN', 5 )->get,        3, 'XTRIM MAXLEN 5: counts trimmed' );
            is(
                [ map { $_->[0] } @{ $redis->xrange( $k, '-', '+' )->get } ],
                [ map { "1-$_" } 6 .. 10 ],
                'the newest five are left'
            );
            is( $redis->xtrim( $k, 'MINID', '1-8' )->get,                2,     'XTRIM MINID 1-8' );
            is( $redis->xrange( $k, '-', '+', 'COUNT', 1 )->get->[0][0], '1-8', 'first is 1-8' );
            is( $redis->xadd( $k, 'MAXLEN', 2, '2-0', i => 'new' )->get, '2-0', 'XADD MAXLEN 2' );
            is(
                [ map { $_->[0] } @{ $redis->xrange( $k, '-', '+' )->get } ],
                [ '1-10', '2-0' ],
                '... trims as it adds'
            );
            is( $redis->xtrim( $k, 'MAXLEN', 0 )->get, 2, 'XTRIM MAXLEN 0' );
            is( $redis->xlen($k)->get,                 0, 'an empty stream' );
            is( $redis->exists($k)->get,               1, '... that still exists' );
            $redis->del($k)->get;
        };

        subtest 'XINFO STREAM' => sub {
            my $k = "$base:info";
            $redis->xadd( $k, "1-$_", f => "v$_" )->get for 1 .. 3;
            $redis->xgroup_create( $k, 'g', '0' )->get;
            $redis->xdel( $k, '1-3' )->get;
            my $info = $redis->xinfo_stream($k)->get;
            is(
                ref $info,
                $protocol == 3 ? 'HASH' : 'ARRAY',
                'XINFO STREAM: ' . ( $protocol == 3 ? 'a map' : 'a flat list' )
            );
            like(
                $as_hash->($info),
                {
                    length                    => 2,
                    'last-generated-id'       => '1-3',
                    'max-deleted-entry-id'    => '1-3',
                    'entries-added'           => 3,
                    'recorded-first-entry-id' => '1-1',
                    groups                    => 1,
                    'first-entry'             => entry( '1-1', f => 'v1' ),
                    'last-entry'              => entry( '1-2', f => 'v2' ),
                },
                '... with the stream\'s state'
            );
            my $full = $as_hash->( $redis->xinfo_stream( $k, 'FULL' )->get );
            is(
                $full->{entries},
                [ entry( '1-1', f => 'v1' ), entry( '1-2', f => 'v2' ) ],
                'XINFO STREAM FULL: the entries'
            );
            is( scalar @{ $full->{groups} },              1,               '... and the groups' );
            is( $as_hash->( $full->{groups}[0] )->{name}, 'g',             '... by name' );
            is( ref $full->{groups}[0], $protocol == 3 ? 'HASH' : 'ARRAY', '... nested maps too' );
            FIORTest::redis_error_ok(
                $redis, $redis->xinfo_stream("$k:missing"),
                'ERR',  'XINFO STREAM of a missing key'
            );
            $redis->del($k)->get;
        };

        subtest 'WRONGTYPE' => sub {
            my $s = "$base:string";
            $redis->set( $s, 'v' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->xadd( $s, '*', f => 'v' ),
                'WRONGTYPE', 'XADD to a string' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->xrange( $s, '-', '+' ),
                'WRONGTYPE', 'XRANGE' );
            FIORTest::redis_error_ok( $redis, $redis->xread( 'STREAMS', $s, '0' ),
                'WRONGTYPE', 'XREAD' );
            is( $redis->get($s)->get,                          'v',   'the string is untouched' );
            is( $redis->xadd( "$s:x", '1-1', f => 'ok' )->get, '1-1', 'streams still work' );
            $redis->del( $s, "$s:x" )->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
